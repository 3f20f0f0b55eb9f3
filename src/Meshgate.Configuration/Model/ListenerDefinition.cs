using System.ComponentModel;

namespace Meshgate.Configuration.Model;

public enum ListenerProtocol { Http1, Http2 }

public enum FrontEndMode { Auto, Kestrel }

public sealed record ListenerDefinition
{
    [Description("Unique name of the listener.")]
    [Required]
    public string? Name { get; init; }

    [Description("host:port to bind: 127.0.0.1:8080, 0.0.0.0:443, [::]:8443, localhost:8080. Port 0 picks a free port.")]
    [Required]
    public string? Address { get; init; }

    [Description("TLS settings; absent means plaintext.")]
    public ListenerTlsDefinition? Tls { get; init; }

    [Description("Mesh mTLS with this process's workload certificate (needs the mesh: section; instead of tls): strict (only mTLS from workloads of the mesh's trust domain) or permissive (mTLS and plaintext on the same port, told apart by the first byte). Absent: no mesh mTLS.")]
    public MeshTlsMode? MeshTls { get; init; }

    [Description("HTTP versions offered: [http1, http2]. With TLS the default is both (chosen by ALPN); in plaintext the default is http1, [http2] is h2c (prior knowledge) only, and [http1, http2] serves both on the port, told apart by the HTTP/2 preface (as gRPC clients speak to a local port).")]
    public List<ListenerProtocol>? Protocols { get; init; }

    [Description("Request and connection limits.")]
    public ListenerLimitsDefinition Limits { get; init; } = new();

    [Description("Who reads HTTP/1.1 requests: auto (the default) lets the direct front end serve plain GET and HEAD requests on routes with no policies itself, after TLS where there is TLS, and hands everything else to Kestrel (docs/front-end.md); kestrel gives every request to Kestrel's HTTP layer and the full pipeline. Mesh-mTLS listeners always use Kestrel.")]
    public FrontEndMode FrontEnd { get; init; } = FrontEndMode.Auto;
}

public sealed record ListenerTlsDefinition
{
    [Description("PEM certificate (chain) file. Use with key.")]
    public string? Cert { get; init; }

    [Description("PEM private key file. Use with cert.")]
    public string? Key { get; init; }

    [Description("PKCS#12 (.pfx) file holding certificate and key; instead of cert/key.")]
    public string? Pfx { get; init; }

    [Description("Environment variable holding the PFX password.")]
    public string? PfxPasswordEnv { get; init; }

    [Description("Client certificates (mTLS at the edge): none (the default), allow (checked when presented) or require. A presented certificate must chain to clientCa and be within its validity period, or the handshake fails.")]
    public ClientCertificates ClientCertificates { get; init; } = ClientCertificates.None;

    [Description("PEM bundle of the CA certificates that client certificates must chain to. Required with allow or require.")]
    public string? ClientCa { get; init; }
}

public enum ClientCertificates { None, Allow, Require }

/// <summary>How a listener takes mesh traffic: <c>strict</c> refuses anything but mTLS from the mesh; <c>permissive</c> also takes plaintext (for migrating callers).</summary>
public enum MeshTlsMode { Strict, Permissive }

public sealed record ListenerLimitsDefinition
{
    [Description("Largest total size of request line and headers. Default 32KiB. Larger requests get 431.")]
    public ByteSize? MaxRequestHeadersSize { get; init; }

    [Description("Largest request body. Default 30MiB; 0 means unlimited. Larger bodies get 413.")]
    public ByteSize? MaxRequestBodySize { get; init; }

    [Description("Most connections open at once on this listener; further connections are closed at once. Default unlimited.")]
    public long? MaxConcurrentConnections { get; init; }
}
