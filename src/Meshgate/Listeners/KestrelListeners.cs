using System.Net;
using Meshgate.Configuration;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration.Model;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Meshgate.Listeners;

/// <summary>Binds the config's listeners on Kestrel, with their TLS, protocols and limits.</summary>
public sealed class KestrelListeners : Proxy.Routing.IRequestListeners
{
    private const long DefaultMaxRequestHeadersSize = 32 * 1024;

    /// <summary>The documented default of limits.maxRequestBodySize; Kestrel's own default is 30,000,000 bytes, about 28.6MiB.</summary>
    private const long DefaultMaxRequestBodySize = 30 * 1024 * 1024;
    private readonly List<(ListenerPolicy Policy, ListenOptions Options)> _bound = [];

    /// <summary>
    /// RFC 9112 2.2 lets a server accept a bare LF as a line end, and Kestrel does by default; a front
    /// proxy must not, or it and an upstream that splits lines differently disagree on the head. The
    /// switch is process-wide and must be set before Kestrel reads it, so it is set here, before any
    /// listener is configured (docs/security.md, request hygiene; the raw-socket tests check it).
    /// </summary>
    static KestrelListeners() => AppContext.SetSwitch("Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators", true);

    public void Configure(KestrelServerOptions kestrel, IReadOnlyList<ListenerPolicy> listeners)
    {
        kestrel.AddServerHeader = false;
        // Kestrel's header limit is process-wide: take the largest, and let the per-listener check
        // (ListenerLimitsMiddleware) hold the smaller ones to theirs.
        var headers = listeners.Max(l => l.MaxRequestHeadersSize) ?? DefaultMaxRequestHeadersSize;
        kestrel.Limits.MaxRequestHeadersTotalSize = (int)Math.Min(headers, int.MaxValue);
        kestrel.Limits.MaxRequestLineSize = (int)Math.Min(headers, int.MaxValue);
        kestrel.Limits.Http2.MaxRequestHeaderFieldSize = (int)Math.Min(headers, int.MaxValue);
        // Listeners that set maxRequestBodySize get it per request (ListenerLimits); the rest get this.
        kestrel.Limits.MaxRequestBodySize = DefaultMaxRequestBodySize;
        // The framing filter holds a request head until it is whole, but never more of it than Kestrel would accept.
        var maxHeldHead = (long)kestrel.Limits.MaxRequestLineSize + kestrel.Limits.MaxRequestHeadersTotalSize + 64;
        var framingLogger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(Proxy.RequestHygiene.RequestFramingConnectionFilter));

        var time = kestrel.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System;
        var meshMetrics = new Lazy<Proxy.Mesh.MeshInboundMetrics>(() => new(kestrel.ApplicationServices.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        var frontEnd = listeners.Any(l => l.UsesDirectFrontEnd) ? kestrel.ApplicationServices.GetRequiredService<Proxy.FrontEnd.DirectFrontEnd>() : null;

        foreach (var listener in listeners)
        {
            // Plaintext connections with both protocols: h2c is told from HTTP/1.1 by its preface (Http2PriorKnowledge).
            // Kestrel is told HTTP/1.1 for the endpoint (its own choice there anyway, with a warning that HTTP/2 is off)
            // and HTTP/2 per connection.
            var plaintextBoth = listener.Protocols == HttpProtocols.Http1AndHttp2 && listener.Certificate is null && listener.MeshTls is not MeshTlsMode.Strict;
            void Setup(ListenOptions options)
            {
                options.Protocols = plaintextBoth && listener.MeshTls is null ? HttpProtocols.Http1 : listener.Protocols;
                if (listener.Certificate is { } certificate) options.UseHttps(Https(listener, certificate));
                if (listener.MeshTls is { } meshTls) MeshTlsListener.Use(options, listener, meshTls, MeshIdentity(kestrel, listener), time, meshMetrics.Value);
                if (listener.MaxConcurrentConnections is { } max) options.Use(ConnectionLimit(max));
                // After UseHttps, so it reads plaintext; HTTP/1.1 only (HTTP/2 by ALPN passes untouched, h2c by prior
                // knowledge is sent past it).
                if ((listener.Protocols & HttpProtocols.Http1) != 0)
                {
                    var framing = Proxy.RequestHygiene.RequestFramingConnectionFilter.Create(framingLogger, maxHeldHead);
                    // The direct front end reads first and hands Kestrel, behind the framing filter, what it does not serve.
                    Func<Microsoft.AspNetCore.Connections.ConnectionDelegate, Microsoft.AspNetCore.Connections.ConnectionDelegate> http1 =
                        listener.UsesDirectFrontEnd ? next => frontEnd!.For(listener.Name, kestrel.Limits)(framing(next)) : framing;
                    options.Use(plaintextBoth ? next => Http2PriorKnowledge.Detect(http2: next, http1: http1(next)) : http1);
                }
                _bound.Add((listener, options));
            }

            var address = listener.Address;
            if (address.AnyHost) kestrel.ListenAnyIP(address.Port, Setup);
            else if (address.Localhost) kestrel.ListenLocalhost(address.Port, Setup);
            else kestrel.Listen(address.Ip, address.Port, Setup);
        }
    }

    private static Proxy.Mesh.IWorkloadIdentity MeshIdentity(KestrelServerOptions kestrel, ListenerPolicy listener) =>
        kestrel.ApplicationServices.GetService<Proxy.Mesh.IWorkloadIdentity>()
        ?? throw new InvalidOperationException($"listener '{listener.Name}' has meshTls, but this process has no mesh identity (the config needs a mesh: section)");

    private static HttpsConnectionAdapterOptions Https(ListenerPolicy listener, X509Certificate2 certificate)
    {
        var options = new HttpsConnectionAdapterOptions { ServerCertificate = certificate };
        if (listener.ClientCertificates != ClientCertificates.None && listener.ClientCas is { } cas)
        {
            options.ClientCertificateMode = listener.ClientCertificates == ClientCertificates.Require
                ? ClientCertificateMode.RequireCertificate
                : ClientCertificateMode.AllowCertificate;
            options.ClientCertificateValidation = (presented, _, _) => Proxy.Tls.CertificateTrust.ChainsTo(presented, cas, TimeProvider.System.GetUtcNow(), Proxy.Tls.CertificateTrust.ClientAuthentication);
        }
        return options;
    }

    /// <summary>Bound endpoints by listener name, with the real port when the config asked for port 0.</summary>
    public IReadOnlyList<(string Name, Uri Url)> Addresses => _bound
        .Select(b => (b.Policy.Name, new Uri($"{(b.Policy.Certificate is null && b.Policy.MeshTls is null ? "http" : "https")}://{Format(b.Options.IPEndPoint)}")))
        .ToList();

    public ListenerPolicy? ListenerOf(HttpContext context) => ListenerOf(context.Connection.LocalIpAddress, context.Connection.LocalPort);

    /// <summary>The listener a request arrived on (local endpoint match; port alone when the bind was to all interfaces).</summary>
    public ListenerPolicy? ListenerOf(IPAddress? localAddress, int localPort)
    {
        ListenerPolicy? byPort = null;
        foreach (var (policy, options) in _bound)
        {
            if (options.IPEndPoint is not { } bound || bound.Port != localPort) continue;
            if (localAddress is not null && bound.Address.Equals(localAddress)) return policy;
            byPort ??= policy;
        }
        return byPort;
    }

    private static string Format(IPEndPoint? endpoint) => endpoint switch
    {
        null => "unbound",
        { Address.AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } e when e.Address.Equals(IPAddress.IPv6Any) => $"localhost:{e.Port}",
        { Address.AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } e => $"[{e.Address}]:{e.Port}",
        var e when e.Address.Equals(IPAddress.Any) => $"localhost:{e.Port}",
        var e => $"{e.Address}:{e.Port}",
    };

    /// <summary>Past the limit a new connection is closed at once, before any bytes are read: the cheapest refusal.</summary>
    private static Func<Microsoft.AspNetCore.Connections.ConnectionDelegate, Microsoft.AspNetCore.Connections.ConnectionDelegate> ConnectionLimit(long max)
    {
        long open = 0;
        return next => async connection =>
        {
            if (Interlocked.Increment(ref open) > max)
            {
                Interlocked.Decrement(ref open);
                connection.Abort();
                return;
            }
            try
            {
                await next(connection);
            }
            finally
            {
                Interlocked.Decrement(ref open);
            }
        };
    }
}
