using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Mesh;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Meshgate.Listeners;

/// <summary>
/// A listener with meshTls. The TLS options are chosen per handshake (Kestrel's TlsHandshakeCallbackOptions), so a renewed
/// workload certificate or a rotated trust bundle applies to the next connection while open ones keep theirs.
/// strict: every connection must be TLS with a client certificate of this mesh (chains to the trust bundle, one spiffe://
/// URI SAN in the trust domain). permissive: a connection whose first byte is not a TLS handshake record goes on as
/// plaintext, on the same port.
/// </summary>
internal static class MeshTlsListener
{
    /// <summary>The TLS record type of a handshake: every ClientHello starts with it, and no HTTP/1.x request or HTTP/2 preface does.</summary>
    private const byte TlsHandshakeRecord = 0x16;

    /// <summary>How long a permissive listener waits for a connection's first byte.</summary>
    private static readonly TimeSpan FirstByteTimeout = TimeSpan.FromSeconds(10);

    public static void Use(ListenOptions options, ListenerPolicy listener, MeshTlsMode mode, IWorkloadIdentity identity, TimeProvider time, MeshInboundMetrics metrics)
    {
        var tls = Handshake(identity, time);
        if (mode == MeshTlsMode.Strict)
        {
            options.UseHttps(tls);
            options.Use(next => Verified(next, listener.Name, metrics));
            return;
        }

        // Kestrel builds a listener's connection pipeline from the last middleware to the first, so when the sniffer's
        // factory runs, the plaintext branch (everything after the TLS step) has already been captured below.
        ConnectionDelegate? plaintext = null;
        options.Use(next => connection => Sniff(connection, next, plaintext!));
        options.UseHttps(tls);
        options.Use(next =>
        {
            plaintext = Plaintext(next, listener.Name, metrics);
            return Verified(next, listener.Name, metrics);
        });
    }

    private static TlsHandshakeCallbackOptions Handshake(IWorkloadIdentity identity, TimeProvider time)
    {
        // One SslStreamCertificateContext per leaf, rebuilt when the identity renews: building it walks the chain.
        // A class, swapped whole: handshakes on other threads must never see one leaf with another's context.
        CertificateContext? cached = null;
        return new TlsHandshakeCallbackOptions
        {
            OnConnection = _ =>
            {
                var leaf = identity.Certificate;
                var entry = cached;
                if (entry is null || !ReferenceEquals(entry.Leaf, leaf))
                {
                    entry = new CertificateContext(leaf, SslStreamCertificateContext.Create(leaf, identity.Chain, offline: true));
                    cached = entry;
                }
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = entry.Context,
                    ClientCertificateRequired = true,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                        certificate is X509Certificate2 presented &&
                        MeshPeerValidation.VerifiedSpiffeId(presented, chain, identity, time.GetUtcNow(), Proxy.Tls.CertificateTrust.ClientAuthentication) is not null,
                });
            },
        };
    }

    private sealed record CertificateContext(X509Certificate2 Leaf, SslStreamCertificateContext Context);

    /// <summary>After the handshake: the caller's SPIFFE id (already verified in the handshake) goes on the connection for the request path.</summary>
    private static ConnectionDelegate Verified(ConnectionDelegate next, string listener, MeshInboundMetrics metrics) => connection =>
    {
        var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        connection.Features.Set(new MeshPeerFeature(certificate is null ? null : MeshPeerValidation.SpiffeIdOf(certificate)));
        metrics.ConnectionAccepted(listener, MeshInboundMetrics.Mtls);
        return next(connection);
    };

    private static ConnectionDelegate Plaintext(ConnectionDelegate next, string listener, MeshInboundMetrics metrics) => connection =>
    {
        connection.Features.Set(new MeshPeerFeature(null));
        metrics.ConnectionAccepted(listener, MeshInboundMetrics.Plaintext);
        return next(connection);
    };

    /// <summary>Peeks at the first byte (consuming nothing) and sends the connection to the TLS or the plaintext branch.</summary>
    private static async Task Sniff(ConnectionContext connection, ConnectionDelegate tls, ConnectionDelegate plaintext)
    {
        var input = connection.Transport.Input;
        byte first;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(FirstByteTimeout);
            try
            {
                var read = await input.ReadAsync(timeout.Token);
                if (read.Buffer.IsEmpty)
                {
                    input.AdvanceTo(read.Buffer.Start);
                    return;
                }
                first = read.Buffer.FirstSpan[0];
                // Nothing consumed or examined: the branch's first read sees these bytes again at once.
                input.AdvanceTo(read.Buffer.Start);
            }
            catch (OperationCanceledException)
            {
                connection.Abort(new ConnectionAbortedException("no bytes within the first-byte timeout"));
                return;
            }
        }
        await (first == TlsHandshakeRecord ? tls(connection) : plaintext(connection));
    }
}
