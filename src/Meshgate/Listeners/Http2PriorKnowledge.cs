using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Meshgate.Listeners;

/// <summary>
/// HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c, RFC 9113 3.3) on one plaintext port, which is how gRPC
/// clients talk to a local port. Kestrel 10 serves a plaintext endpoint with both protocols as HTTP/1.1 only (it
/// answers the HTTP/2 preface with GOAWAY HTTP_1_1_REQUIRED): there is no ALPN to choose by. This connection
/// middleware peeks at the first bytes, consuming nothing, and when they are the HTTP/2 client preface tells Kestrel to
/// take HTTP/2 for that connection; anything else goes on as HTTP/1.1. The HTTP/1.1 branch keeps the listener's
/// HTTP/1.1-only filters (request framing), which must never read HTTP/2 frames.
/// </summary>
/// <remarks>
/// Kestrel chooses a connection's protocols from its internal <c>HttpProtocolsFeature</c> when the connection carries
/// one (its TLS SNI options set it per connection, and ASP.NET Core 11 detects the preface itself the same way); the
/// accessor below makes that feature, since the type is not public in 10. The listener tests fail if a Kestrel
/// update renames it (the accessor throws MissingMethodException on the first HTTP/2 connection).
/// </remarks>
internal static class Http2PriorKnowledge
{
    /// <summary>"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": every prior-knowledge HTTP/2 connection starts with it, and no HTTP/1.x request line does.</summary>
    private static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>How long to wait for the first bytes before handing the connection to HTTP/1.1, whose own timeouts then apply.</summary>
    private static readonly TimeSpan PrefaceTimeout = TimeSpan.FromSeconds(10);

    /// <summary>One instance for every HTTP/2 connection: Kestrel only reads it.</summary>
    private static readonly object Http2Only = CreateProtocolsFeature(HttpProtocols.Http2);

    /// <summary>The connection delegate that sends an h2c connection to <paramref name="http2"/> and the rest to <paramref name="http1"/>.
    /// A TLS connection (a permissive mesh listener's TLS branch) goes to <paramref name="http1"/>, whose filters leave ALPN h2 alone.</summary>
    public static ConnectionDelegate Detect(ConnectionDelegate http2, ConnectionDelegate http1) => connection =>
        connection.Features.Get<ITlsConnectionFeature>() is not null ? http1(connection) : DetectAsync(connection, http2, http1);

    private static async Task DetectAsync(ConnectionContext connection, ConnectionDelegate http2, ConnectionDelegate http1)
    {
        var input = connection.Transport.Input;
        var isHttp2 = false;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(PrefaceTimeout);
            try
            {
                while (true)
                {
                    var read = await input.ReadAsync(timeout.Token);
                    var buffer = read.Buffer;
                    var verdict = Classify(buffer);
                    if (verdict is null && !read.IsCompleted)
                    {
                        // A prefix of the preface so far: examine all, consume nothing, and wait for more.
                        input.AdvanceTo(buffer.Start, buffer.End);
                        continue;
                    }
                    // Nothing consumed: the chosen protocol's first read sees these bytes again.
                    input.AdvanceTo(buffer.Start);
                    isHttp2 = verdict == true;
                    break;
                }
            }
            catch (OperationCanceledException) when (!connection.ConnectionClosed.IsCancellationRequested)
            {
                // Silent so far: HTTP/1.1's keep-alive timeout closes it if nothing comes.
            }
        }
        if (isHttp2) connection.Features[Http2Only.GetType()] = Http2Only;
        await (isHttp2 ? http2(connection) : http1(connection));
    }

    /// <summary>true: the whole preface; false: not the preface; null: a proper prefix of it, undecided.</summary>
    internal static bool? Classify(ReadOnlySequence<byte> buffer)
    {
        var preface = ClientPreface;
        var length = (int)Math.Min(buffer.Length, preface.Length);
        Span<byte> head = stackalloc byte[preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(preface[..length])) return false;
        return length == preface.Length ? true : null;
    }

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType("Microsoft.AspNetCore.Server.Kestrel.Core.Internal.HttpProtocolsFeature, Microsoft.AspNetCore.Server.Kestrel.Core")]
    private static extern object CreateProtocolsFeature(HttpProtocols protocols);
}
