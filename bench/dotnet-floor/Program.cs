// The .NET floor: the least work a .NET HTTP/1.1 forwarder can do per request, to learn what the runtime itself
// costs on this machine next to nginx (bench/floor.sh). Not a proxy anyone should run: it forwards the client's bytes
// as they are (no header rewriting, no routing, no limits), knows only Content-Length framing (GETs and the origin's
// fixed bodies), and gives each client connection its own upstream connection. Whatever a real gateway adds, it adds
// on top of one of these.
//
// Usage: dotnet-floor MODE LISTEN_PORT UPSTREAM_PORT
//   async     System.Net.Sockets with async/await on both sides (the runtime's epoll engine, as Kestrel uses it)
//   blocking  a thread per client connection with blocking receives and sends: no epoll, no EAGAIN, no thread pool
//   kestrel   Kestrel with one terminal middleware (no routing) that forwards over a pooled raw upstream socket
// With DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 the Kestrel modes also schedule inline
// (UnsafePreferInlineScheduling), as Kestrel's documentation pairs them and Meshgate does.
//   kestrel-transport  Kestrel's socket transport and connection pipes without its HTTP layer: a connection handler
//             relays each connection's requests over its own raw upstream socket, as `async` does
//   epoll     below the runtime's socket engine: an edge-triggered epoll loop per core over non-blocking sockets, as
//             nginx's worker runs (EpollForwarder.cs)
//   epoll-batched-sends  the epoll mode with its sends queued in an io_uring ring and submitted once per turn of the
//             loop; receives stay recv calls after epoll's edge (EpollForwarder.cs)
//   uring     the epoll mode's forwarder with its receives and sends batched through io_uring: one io_uring_enter per
//             turn of the loop instead of a system call per receive and per send (UringForwarder.cs)
using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

if (args.Length != 3 || !int.TryParse(args[1], out var listenPort) || !int.TryParse(args[2], out var upstreamPort))
{
    Console.Error.WriteLine("usage: dotnet-floor async|blocking|kestrel|kestrel-transport|epoll|epoll-batched-sends|uring LISTEN_PORT UPSTREAM_PORT");
    return 2;
}
var upstream = new IPEndPoint(IPAddress.Loopback, upstreamPort);
var inline = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";
switch (args[0])
{
    case "async":
    case "blocking":
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, listenPort));
        listener.Listen(1024);
        var blocking = args[0] == "blocking";
        while (true)
        {
            var client = await listener.AcceptAsync();
            client.NoDelay = true;
            if (blocking)
            {
                new Thread(() => RawForwarder.ServeBlocking(client, upstream)) { IsBackground = true }.Start();
            }
            else
            {
                _ = RawForwarder.ServeAsync(client, upstream);
            }
        }
    case "epoll":
        EpollForwarder.Run(listenPort, upstream);
        return 0;
    case "epoll-batched-sends":
        EpollForwarder.Run(listenPort, upstream, batchSends: true);
        return 0;
    case "uring":
        UringForwarder.Run(listenPort, upstream);
        return 0;
    case "kestrel":
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (inline)
        {
            builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        }
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, listenPort));
        var app = builder.Build();
        var pool = new ConcurrentStack<UpstreamConnection>();
        app.Run(context => KestrelForwarder.ForwardAsync(context, pool, upstream));
        await app.RunAsync();
        return 0;
    case "kestrel-transport":
        var transportBuilder = WebApplication.CreateSlimBuilder();
        transportBuilder.Logging.ClearProviders();
        if (inline)
        {
            transportBuilder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        }
        transportBuilder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.Listen(IPAddress.Loopback, listenPort, listen => listen.Run(connection => TransportForwarder.ServeAsync(connection, upstream))));
        await transportBuilder.Build().RunAsync();
        return 0;
    default:
        Console.Error.WriteLine($"unknown mode '{args[0]}': async, blocking, kestrel, kestrel-transport or epoll");
        return 2;
}

static class Http1
{
    static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    // The length of the head (through its blank line) when buffer holds all of it, else -1.
    public static int HeadLength(ReadOnlySpan<byte> buffer)
    {
        var end = buffer.IndexOf(HeadEnd);
        return end < 0 ? -1 : end + HeadEnd.Length;
    }

    // The Content-Length of a head, 0 when it has none; -1 for a chunked or unreadable one (the floor doesn't do them).
    public static long ContentLength(ReadOnlySpan<byte> head)
    {
        long length = 0;
        var lines = head;
        while (true)
        {
            var eol = lines.IndexOf("\r\n"u8);
            if (eol <= 0)
            {
                return length;
            }
            var line = lines[..eol];
            lines = lines[(eol + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!Utf8Parser.TryParse(value, out length, out var used) || used != value.Length)
                {
                    return -1;
                }
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                return -1;
            }
        }
    }
}

static class RawForwarder
{
    public static async Task ServeAsync(Socket client, IPEndPoint upstreamEndPoint)
    {
        using var _ = client;
        var buffer = new byte[64 * 1024];
        var upstream = await ConnectAsync(upstreamEndPoint);
        try
        {
            while (true)
            {
                var request = await ReceiveHeadAsync(client, buffer);
                if (request <= 0)
                {
                    return;
                }
                // The origin closes idle keep-alive connections (after 60 s): a request that finds its connection
                // closed before any answer goes again on a new one.
                if (!await RelayExchangeAsync(new SocketSink(client), upstream, buffer, request))
                {
                    upstream.Dispose();
                    upstream = await ConnectAsync(upstreamEndPoint);
                    if (!await RelayExchangeAsync(new SocketSink(client), upstream, buffer, request))
                    {
                        return;
                    }
                }
            }
        }
        catch (SocketException)
        {
        }
        finally
        {
            upstream.Dispose();
        }
    }

    public static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return socket;
    }

    // Reads one request head (GETs: the whole request) into buffer; its length, or 0 when the client closed.
    static async ValueTask<int> ReceiveHeadAsync(Socket client, byte[] buffer)
    {
        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(buffer.AsSpan(0, filled))) < 0)
        {
            if (filled == buffer.Length)
            {
                return 0;
            }
            var read = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            if (read == 0)
            {
                return 0;
            }
            filled += read;
        }
        return Http1.ContentLength(buffer.AsSpan(0, headLength)) == 0 && filled == headLength ? headLength : 0;
    }

    // Sends the request in buffer[..request] upstream and relays the answer; false when the upstream closed first.
    public static async ValueTask<bool> RelayExchangeAsync<TClient>(TClient client, Socket upstream, byte[] buffer, int request)
        where TClient : IClientSink
    {
        await upstream.SendAsync(buffer.AsMemory(0, request), SocketFlags.None);
        var answer = buffer.AsMemory(request);
        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(answer.Span[..filled])) < 0)
        {
            var read = await upstream.ReceiveAsync(answer[filled..], SocketFlags.None);
            if (read == 0)
            {
                if (filled == 0)
                {
                    return false;
                }
                throw new SocketException((int)SocketError.ConnectionReset);
            }
            filled += read;
        }
        long remaining = headLength + Http1.ContentLength(answer.Span[..headLength]);
        while (true)
        {
            await client.SendAsync(answer[..filled]);
            remaining -= filled;
            if (remaining <= 0)
            {
                return true;
            }
            filled = await upstream.ReceiveAsync(answer[..(int)Math.Min(answer.Length, remaining)], SocketFlags.None);
            if (filled == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }
        }
    }

    public static void ServeBlocking(Socket client, IPEndPoint upstreamEndPoint)
    {
        using var _ = client;
        var buffer = new byte[64 * 1024];
        var upstream = Connect(upstreamEndPoint);
        try
        {
            while (true)
            {
                var request = ReceiveHead(client, buffer);
                if (request <= 0)
                {
                    return;
                }
                if (!RelayExchange(client, upstream, buffer, request))
                {
                    upstream.Dispose();
                    upstream = Connect(upstreamEndPoint);
                    if (!RelayExchange(client, upstream, buffer, request))
                    {
                        return;
                    }
                }
            }
        }
        catch (SocketException)
        {
        }
        finally
        {
            upstream.Dispose();
        }
    }

    static Socket Connect(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(endPoint);
        return socket;
    }

    static int ReceiveHead(Socket client, byte[] buffer)
    {
        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(buffer.AsSpan(0, filled))) < 0)
        {
            if (filled == buffer.Length)
            {
                return 0;
            }
            var read = client.Receive(buffer.AsSpan(filled));
            if (read == 0)
            {
                return 0;
            }
            filled += read;
        }
        return Http1.ContentLength(buffer.AsSpan(0, headLength)) == 0 && filled == headLength ? headLength : 0;
    }

    static bool RelayExchange(Socket client, Socket upstream, byte[] buffer, int request)
    {
        upstream.Send(buffer.AsSpan(0, request));
        var answer = buffer.AsSpan(request);
        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(answer[..filled])) < 0)
        {
            var read = upstream.Receive(answer[filled..]);
            if (read == 0)
            {
                if (filled == 0)
                {
                    return false;
                }
                throw new SocketException((int)SocketError.ConnectionReset);
            }
            filled += read;
        }
        long remaining = headLength + Http1.ContentLength(answer[..headLength]);
        while (true)
        {
            client.Send(answer[..filled]);
            remaining -= filled;
            if (remaining <= 0)
            {
                return true;
            }
            filled = upstream.Receive(answer[..(int)Math.Min(answer.Length, remaining)]);
            if (filled == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }
        }
    }
}

interface IClientSink
{
    ValueTask SendAsync(ReadOnlyMemory<byte> bytes);
}

readonly struct SocketSink(Socket socket) : IClientSink
{
    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes) => await socket.SendAsync(bytes, SocketFlags.None);
}

readonly struct PipeSink(PipeWriter output) : IClientSink
{
    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes) => await output.WriteAsync(bytes);
}

static class TransportForwarder
{
    // Requests from the connection's input pipe to a raw upstream socket; answers from it into the output pipe.
    public static async Task ServeAsync(ConnectionContext connection, IPEndPoint upstreamEndPoint)
    {
        var upstream = await RawForwarder.ConnectAsync(upstreamEndPoint);
        var input = connection.Transport.Input;
        var output = new PipeSink(connection.Transport.Output);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                var readable = result.Buffer;
                var headLength = readable.IsSingleSegment ? Http1.HeadLength(readable.FirstSpan) : Http1.HeadLength(readable.ToArray());
                if (headLength < 0)
                {
                    if (result.IsCompleted || readable.Length >= buffer.Length / 2)
                    {
                        return;
                    }
                    input.AdvanceTo(readable.Start, readable.End);
                    continue;
                }
                // GETs only: the head is the whole request.
                var request = readable.Slice(0, headLength);
                request.CopyTo(buffer);
                input.AdvanceTo(request.End);
                if (!await RawForwarder.RelayExchangeAsync(output, upstream, buffer, headLength))
                {
                    upstream.Dispose();
                    upstream = await RawForwarder.ConnectAsync(upstreamEndPoint);
                    if (!await RawForwarder.RelayExchangeAsync(output, upstream, buffer, headLength))
                    {
                        return;
                    }
                }
            }
        }
        catch (SocketException)
        {
        }
        finally
        {
            upstream.Dispose();
        }
    }
}

sealed class UpstreamConnection(Socket socket)
{
    public Socket Socket { get; } = socket;
    public byte[] Buffer { get; } = new byte[64 * 1024];
}

static class KestrelForwarder
{
    // The request head as the origin needs it: the request line, Host, and every header the client sent.
    public static async Task ForwardAsync(HttpContext context, ConcurrentStack<UpstreamConnection> pool, IPEndPoint upstreamEndPoint)
    {
        if (!pool.TryPop(out var connection))
        {
            connection = new UpstreamConnection(await RawForwarder.ConnectAsync(upstreamEndPoint));
        }
        var buffer = connection.Buffer;
        var length = WriteRequestHead(buffer, context.Request);
        var filled = 0;
        int headLength;
        for (var attempt = 1; ; attempt++)
        {
            await connection.Socket.SendAsync(buffer.AsMemory(0, length), SocketFlags.None);
            while ((headLength = Http1.HeadLength(buffer.AsSpan(length, filled))) < 0)
            {
                var read = await connection.Socket.ReceiveAsync(buffer.AsMemory(length + filled), SocketFlags.None);
                if (read == 0)
                {
                    break;
                }
                filled += read;
            }
            if (headLength >= 0)
            {
                break;
            }
            // The origin closed an idle pooled connection (after 60 s): once more on a new one.
            connection.Socket.Dispose();
            if (attempt == 2 || filled > 0)
            {
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
                return;
            }
            var fresh = new UpstreamConnection(await RawForwarder.ConnectAsync(upstreamEndPoint));
            buffer.AsSpan(0, length).CopyTo(fresh.Buffer);
            connection = fresh;
            buffer = fresh.Buffer;
        }
        // The answer starts after the request in buffer.
        buffer.AsSpan(length, filled).CopyTo(buffer);
        var head = buffer.AsSpan(0, headLength);
        var bodyLength = Http1.ContentLength(head);
        var response = context.Response;
        // "HTTP/1.1 200 OK": the status is the three digits after the first space.
        Utf8Parser.TryParse(head.Slice(9, 3), out int status, out _);
        response.StatusCode = status;
        response.ContentLength = bodyLength;
        response.Headers.ContentType = ContentType(head);
        var body = response.BodyWriter;
        var remaining = bodyLength;
        var chunk = filled - headLength;
        if (chunk > 0)
        {
            await body.WriteAsync(buffer.AsMemory(headLength, chunk));
            remaining -= chunk;
        }
        while (remaining > 0)
        {
            var read = await connection.Socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), SocketFlags.None);
            if (read == 0)
            {
                connection.Socket.Dispose();
                return;
            }
            await body.WriteAsync(buffer.AsMemory(0, read));
            remaining -= read;
        }
        pool.Push(connection);
    }

    static int WriteRequestHead(byte[] buffer, HttpRequest request)
    {
        var span = buffer.AsSpan();
        var n = Encoding.ASCII.GetBytes(request.Method, span);
        span[n++] = (byte)' ';
        n += Encoding.ASCII.GetBytes(request.Path.Value ?? "/", span[n..]);
        n += Encoding.ASCII.GetBytes(request.QueryString.Value ?? "", span[n..]);
        n += Encoding.ASCII.GetBytes(" HTTP/1.1\r\n", span[n..]);
        foreach (var header in request.Headers)
        {
            n += Encoding.ASCII.GetBytes(header.Key, span[n..]);
            span[n++] = (byte)':';
            span[n++] = (byte)' ';
            n += Encoding.ASCII.GetBytes(header.Value.ToString(), span[n..]);
            span[n++] = (byte)'\r';
            span[n++] = (byte)'\n';
        }
        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        return n;
    }

    static string? ContentType(ReadOnlySpan<byte> head)
    {
        var at = head.IndexOf("\r\nContent-Type: "u8);
        if (at < 0)
        {
            return null;
        }
        var value = head[(at + 16)..];
        return CachedContentType(value[..value.IndexOf("\r\n"u8)]);
    }

    static string? s_contentType;

    // The origin answers one content type; decoding it once keeps a string per request out of the floor.
    static string CachedContentType(ReadOnlySpan<byte> value)
    {
        var cached = s_contentType;
        if (cached is not null && Ascii.Equals(value, cached))
        {
            return cached;
        }
        return s_contentType = Encoding.ASCII.GetString(value);
    }
}
