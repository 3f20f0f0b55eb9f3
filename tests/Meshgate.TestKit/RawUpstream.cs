using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Meshgate.TestKit;

/// <summary>One request as a <see cref="RawUpstream"/> read it off the wire.</summary>
/// <param name="Connection">Which connection it came on (1 for the first the upstream accepted).</param>
/// <param name="Number">Its place on that connection (1 for the first).</param>
public sealed record RawRequest(int Connection, int Number, string Method, string Target, string Head, byte[] Body)
{
    /// <summary>A request header's value as sent (the first line with that name), or null.</summary>
    public string? Header(string name) => Head.Split("\r\n").Skip(1)
        .Where(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)).Select(l => l[(name.Length + 1)..].Trim()).FirstOrDefault();
}

/// <summary>What a <see cref="RawUpstream"/> sends back: the bytes exactly as written, then optionally closes the connection.</summary>
/// <param name="Close">Close the connection after the answer (without saying so unless the answer does).</param>
/// <param name="Abort">Reset the connection after the answer's bytes.</param>
public sealed record RawAnswer(byte[] Bytes, bool Close = false, bool Abort = false)
{
    public RawAnswer(string text, bool close = false, bool abort = false) : this(Encoding.Latin1.GetBytes(text.ReplaceLineEndings("\r\n")), close, abort)
    {
    }
}

/// <summary>
/// An HTTP/1.1 upstream that answers with hand-written bytes, for what a Kestrel upstream will not send (a malformed
/// status line, a close-delimited body, interim responses, a keep-alive connection closed without notice). It reads
/// each request's head and body (Content-Length or chunked) and counts connections and requests.
/// </summary>
public sealed class RawUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<RawRequest, Task<RawAnswer>> _answer;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private int _connections;
    private int _requests;
    private int _closed;

    private RawUpstream(Func<RawRequest, Task<RawAnswer>> answer)
    {
        _answer = answer;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Endpoint = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        lock (_tasks) _tasks.Add(AcceptAsync());
    }

    public string Endpoint { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Requests read so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Connections that ended (either side closed them).</summary>
    public int Closed => Volatile.Read(ref _closed);

    /// <summary>Every request read, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<RawRequest> Received { get; } = new();

    public static RawUpstream Start(Func<RawRequest, RawAnswer> answer) => new(r => Task.FromResult(answer(r)));

    /// <summary>An upstream whose answers may wait (a request kept in flight until the test lets it go).</summary>
    public static RawUpstream Start(Func<RawRequest, Task<RawAnswer>> answer) => new(answer);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            var connection = Interlocked.Increment(ref _connections);
            lock (_tasks) _tasks.Add(ServeAsync(socket, connection));
        }
    }

    private async Task ServeAsync(Socket socket, int connection)
    {
        var buffer = new List<byte>();
        var chunk = new byte[8192];
        try
        {
            for (var number = 1; ; number++)
            {
                var head = await ReadHeadAsync(socket, buffer, chunk);
                if (head is null) return;
                var lines = head.Split("\r\n");
                var parts = lines[0].Split(' ');
                var body = await ReadBodyAsync(socket, buffer, chunk, lines);
                var request = new RawRequest(connection, number, parts[0], parts.Length > 1 ? parts[1] : "", head, body);
                Received.Enqueue(request);
                Interlocked.Increment(ref _requests);
                var answer = await _answer(request);
                await socket.SendAsync(answer.Bytes, SocketFlags.None, _stop.Token);
                if (answer.Abort)
                {
                    socket.LingerState = new LingerOption(true, 0);
                    return;
                }
                if (answer.Close)
                {
                    socket.Shutdown(SocketShutdown.Both);
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The gateway went away, or the test ended.
        }
        finally
        {
            socket.Dispose();
            Interlocked.Increment(ref _closed);
        }
    }

    private async Task<string?> ReadHeadAsync(Socket socket, List<byte> buffer, byte[] chunk)
    {
        while (true)
        {
            var text = Encoding.Latin1.GetString(buffer.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                buffer.RemoveRange(0, end + 4);
                return text[..end];
            }
            var read = await socket.ReceiveAsync(chunk, SocketFlags.None, _stop.Token);
            if (read == 0) return null;
            buffer.AddRange(chunk.AsSpan(0, read).ToArray());
        }
    }

    private async Task<byte[]> ReadBodyAsync(Socket socket, List<byte> buffer, byte[] chunk, string[] lines)
    {
        string? Header(string name) => lines.Skip(1).Where(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)).Select(l => l[(name.Length + 1)..].Trim()).FirstOrDefault();
        async Task FillAsync(int count)
        {
            while (buffer.Count < count)
            {
                var read = await socket.ReceiveAsync(chunk, SocketFlags.None, _stop.Token);
                if (read == 0) throw new IOException("closed inside the body");
                buffer.AddRange(chunk.AsSpan(0, read).ToArray());
            }
        }
        if (Header("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            var body = new List<byte>();
            while (true)
            {
                int lineEnd;
                while ((lineEnd = Encoding.Latin1.GetString(buffer.ToArray()).IndexOf("\r\n", StringComparison.Ordinal)) < 0) await FillAsync(buffer.Count + 1);
                var size = int.Parse(Encoding.Latin1.GetString(buffer.GetRange(0, lineEnd).ToArray()).Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                buffer.RemoveRange(0, lineEnd + 2);
                if (size == 0)
                {
                    // No trailers expected: the final CRLF.
                    await FillAsync(2);
                    buffer.RemoveRange(0, 2);
                    return [.. body];
                }
                await FillAsync(size + 2);
                body.AddRange(buffer.GetRange(0, size));
                buffer.RemoveRange(0, size + 2);
            }
        }
        if (Header("Content-Length") is { } length && int.TryParse(length, CultureInfo.InvariantCulture, out var count) && count > 0)
        {
            await FillAsync(count);
            var body = buffer.GetRange(0, count).ToArray();
            buffer.RemoveRange(0, count);
            return body;
        }
        return [];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Task[] tasks;
        lock (_tasks) tasks = [.. _tasks];
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
