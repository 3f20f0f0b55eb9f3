using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Meshgate.Proxy.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Proxy.Tests.Sockets;

/// <summary>The epoll engine's transport on real loopback connections: what each accepted connection is given.</summary>
public sealed class EpollTransportTests
{
    [Fact]
    public async Task AcceptedConnections_TakeTheirBlocksFromTheirLoopsOwnPool()
    {
        var pools = new RecordingPoolFactory();
        var listener = await new EpollTransportFactory(NullLoggerFactory.Instance, pools).BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var clients = new List<Socket>();
        var accepted = new List<ConnectionContext>();
        try
        {
            // Two connections per loop: the listener hands them to the loops in turn.
            for (var i = 0; i < 2 * EpollLoop.Count; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(listener.EndPoint);
                accepted.Add((await listener.AcceptAsync())!);
            }

            var poolOf = accepted.Select(c => (Loop: ((EpollConnection)c).Loop.Index, Pool: c.Features.Get<IMemoryPoolFeature>()!.MemoryPool)).ToList();
            Assert.Equal(EpollLoop.Count, pools.Made.Count);
            Assert.Equal(EpollLoop.Count, poolOf.Select(p => p.Loop).Distinct().Count());
            // One pool per loop, each made by the factory, and no loop's pool shared with another loop.
            Assert.All(poolOf.GroupBy(p => p.Loop), loop => Assert.Single(loop.Select(p => p.Pool).Distinct()));
            Assert.Equal(EpollLoop.Count, poolOf.Select(p => p.Pool).Distinct().Count());
            Assert.All(poolOf, p => Assert.Contains(p.Pool, pools.Made));
        }
        finally
        {
            foreach (var connection in accepted) await connection.DisposeAsync();
            foreach (var client in clients) client.Dispose();
            await listener.DisposeAsync();
        }
    }

    private sealed class RecordingPoolFactory : IMemoryPoolFactory<byte>
    {
        public List<MemoryPool<byte>> Made { get; } = [];

        public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
        {
            var pool = new SharedArrays();
            Made.Add(pool);
            return pool;
        }
    }

    private sealed class SharedArrays : MemoryPool<byte>
    {
        public override int MaxBufferSize => Shared.MaxBufferSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => Shared.Rent(minBufferSize);

        protected override void Dispose(bool disposing)
        {
        }
    }
}
