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
    Console.Error.WriteLine("usage: dotnet-floor async|blocking|kestrel LISTEN_PORT UPSTREAM_PORT");
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
        Console.Error.WriteLine($"unknown mode '{args[0]}': async, blocking, kestrel or kestrel-transport");
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
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var buffer = new byte[64 * 1024];
        try
        {
            await upstream.ConnectAsync(upstreamEndPoint);
            while (await RelayMessageAsync(client, upstream, buffer) && await RelayMessageAsync(upstream, client, buffer))
            {
            }
        }
        catch (SocketException)
        {
        }
    }

    // One message (head and Content-Length body) from one socket to the other; false when the source closed.
    static async ValueTask<bool> RelayMessageAsync(Socket from, Socket to, byte[] buffer)
    {
        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(buffer.AsSpan(0, filled))) < 0)
        {
            if (filled == buffer.Length)
            {
                return false;
            }
            var read = await from.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            if (read == 0)
            {
                return false;
            }
            filled += read;
        }
        var bodyLength = Http1.ContentLength(buffer.AsSpan(0, headLength));
        if (bodyLength < 0)
        {
            return false;
        }
        var remaining = headLength + bodyLength;
        while (true)
        {
            await to.SendAsync(buffer.AsMemory(0, filled), SocketFlags.None);
            remaining -= filled;
            if (remaining <= 0)
            {
                return true;
            }
            filled = await from.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), SocketFlags.None);
            if (filled == 0)
            {
                return false;
            }
        }
    }

    public static void ServeBlocking(Socket client, IPEndPoint upstreamEndPoint)
    {
        using var _ = client;
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var buffer = new byte[64 * 1024];
        try
        {
            upstream.Connect(upstreamEndPoint);
            while (RelayMessage(client, upstream, buffer) && RelayMessage(upstream, client, buffer))
            {
            }
        }
        catch (SocketException)
        {
        }
    }

    static bool RelayMessage(Socket from, Socket to, byte[] buffer)
    {
        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(buffer.AsSpan(0, filled))) < 0)
        {
            if (filled == buffer.Length)
            {
                return false;
            }
            var read = from.Receive(buffer.AsSpan(filled));
            if (read == 0)
            {
                return false;
            }
            filled += read;
        }
        var bodyLength = Http1.ContentLength(buffer.AsSpan(0, headLength));
        if (bodyLength < 0)
        {
            return false;
        }
        var remaining = headLength + bodyLength;
        while (true)
        {
            to.Send(buffer.AsSpan(0, filled));
            remaining -= filled;
            if (remaining <= 0)
            {
                return true;
            }
            filled = from.Receive(buffer.AsSpan(0, (int)Math.Min(buffer.Length, remaining)));
            if (filled == 0)
            {
                return false;
            }
        }
    }
}

static class TransportForwarder
{
    // Requests from the connection's input pipe to a raw upstream socket; answers from it into the output pipe.
    public static async Task ServeAsync(ConnectionContext connection, IPEndPoint upstreamEndPoint)
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await upstream.ConnectAsync(upstreamEndPoint);
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await input.ReadAsync();
            var readable = result.Buffer;
            var headLength = readable.IsSingleSegment ? Http1.HeadLength(readable.FirstSpan) : Http1.HeadLength(readable.ToArray());
            if (headLength < 0)
            {
                if (result.IsCompleted)
                {
                    return;
                }
                input.AdvanceTo(readable.Start, readable.End);
                continue;
            }
            // GETs only: the head is the whole request.
            var request = readable.Slice(0, headLength);
            foreach (var segment in request)
            {
                await upstream.SendAsync(segment, SocketFlags.None);
            }
            input.AdvanceTo(request.End);

            var filled = 0;
            int responseHead;
            while ((responseHead = Http1.HeadLength(buffer.AsSpan(0, filled))) < 0)
            {
                var read = await upstream.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                if (read == 0)
                {
                    return;
                }
                filled += read;
            }
            var remaining = responseHead + Http1.ContentLength(buffer.AsSpan(0, responseHead));
            while (true)
            {
                await output.WriteAsync(buffer.AsMemory(0, filled));
                remaining -= filled;
                if (remaining <= 0)
                {
                    break;
                }
                filled = await upstream.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), SocketFlags.None);
                if (filled == 0)
                {
                    return;
                }
            }
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
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(upstreamEndPoint);
            connection = new UpstreamConnection(socket);
        }
        var buffer = connection.Buffer;
        var request = context.Request;
        var length = WriteRequestHead(buffer, request);
        await connection.Socket.SendAsync(buffer.AsMemory(0, length), SocketFlags.None);

        var filled = 0;
        int headLength;
        while ((headLength = Http1.HeadLength(buffer.AsSpan(0, filled))) < 0)
        {
            var read = await connection.Socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            if (read == 0)
            {
                connection.Socket.Dispose();
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
                return;
            }
            filled += read;
        }
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
