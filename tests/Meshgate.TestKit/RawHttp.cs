using System.Net.Sockets;
using System.Text;

namespace Meshgate.TestKit;

/// <summary>
/// HTTP/1.1 over a plain socket, for requests HttpClient will not send as written (hop-by-hop
/// headers, spoofed framing) and for reading a response exactly as it came off the wire.
/// </summary>
public static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> (CRLF line ends are added) and reads until the server closes the connection.</summary>
    public static async Task<RawResponse> SendAsync(Uri server, string request, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, cts.Token);
        var stream = client.GetStream();
        var text = request.ReplaceLineEndings("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text), cts.Token);
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, cts.Token);
        return RawResponse.Parse(Encoding.ASCII.GetString(received.ToArray()));
    }

    /// <summary>
    /// Sends <paramref name="request"/> byte for byte (no line-end rewriting, so bare LF, NUL and other
    /// control bytes go out as written), reads the response, and reports how the server left the
    /// connection: closed (FIN or RST) within <paramref name="timeout"/>, or still open.
    /// </summary>
    /// <param name="writeSize">When set, the request goes out in writes of this many bytes, each its own TCP segment, so the server reads it in pieces.</param>
    public static async Task<RawExchange> ExchangeAsync(Uri server, byte[] request, TimeSpan? timeout = null, int? writeSize = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(5));
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(server.Host, server.Port, cts.Token);
        var stream = client.GetStream();
        if (writeSize is not { } size) await stream.WriteAsync(request, cts.Token);
        else
        {
            for (var offset = 0; offset < request.Length; offset += size)
            {
                await stream.WriteAsync(request.AsMemory(offset, Math.Min(size, request.Length - offset)), cts.Token);
                await Task.Delay(1, cts.Token);
            }
        }
        using var received = new MemoryStream();
        var buffer = new byte[8192];
        var closed = RawClose.StillOpen;
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token)) > 0) received.Write(buffer, 0, read);
            closed = RawClose.Fin;
        }
        catch (OperationCanceledException)
        {
            closed = RawClose.StillOpen;
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted })
        {
            // The server closed with request bytes still unread, which TCP reports as a reset.
            closed = RawClose.Reset;
        }
        var raw = Encoding.Latin1.GetString(received.ToArray());
        return new RawExchange(raw.Contains("\r\n\r\n", StringComparison.Ordinal) ? RawResponse.Parse(raw) : null, closed, raw);
    }
}

/// <summary>How the server left a raw connection after its response.</summary>
public enum RawClose
{
    StillOpen,
    Fin,
    Reset,
}

/// <summary>One raw request's outcome: the response (null when none arrived), and whether the server closed the connection.</summary>
public sealed record RawExchange(RawResponse? Response, RawClose Closed, string Raw);

/// <summary>A response as received: status, header lines in order (names as sent), and the raw body.</summary>
public sealed record RawResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, string Body, string Raw)
{
    public IEnumerable<string> Values(string name) => Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value);

    public bool Has(string name) => Values(name).Any();

    public static RawResponse Parse(string raw)
    {
        var end = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0) throw new InvalidOperationException($"no complete response head in: {raw}");
        var lines = raw[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l =>
        {
            var colon = l.IndexOf(':');
            return new KeyValuePair<string, string>(l[..colon].Trim(), l[(colon + 1)..].Trim());
        }).ToList();
        return new RawResponse(status, headers, raw[(end + 4)..], raw);
    }
}
