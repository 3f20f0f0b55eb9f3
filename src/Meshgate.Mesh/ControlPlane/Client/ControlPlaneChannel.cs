using System.Net.Http;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Meshgate.Configuration.Model;

namespace Meshgate.Mesh.ControlPlane.Client;

/// <summary>
/// The one place a gRPC channel to the control plane is made (workload identity, mesh watch, sidecar registration).
/// http:// is h2c. https:// verifies the control plane's certificate: with a CA file (mesh.controlPlaneCa, given out of
/// band) the certificate must chain to a root in that file, or to a root of the mesh trust bundle the workload has since
/// fetched (so a rotated root keeps working), and name the host of the URL; without a CA file the system trust store decides.
/// </summary>
public static class ControlPlaneChannel
{
    /// <summary>A channel for a validated mesh: section; a relative controlPlaneCa is taken from <paramref name="baseDirectory"/> (the config file's).</summary>
    /// <param name="meshTrustBundle">The mesh roots fetched from the CA since (e.g. <c>() =&gt; identity.HasCertificate ? identity.TrustBundle : null</c>), also trusted; null or returning null: the file only.</param>
    public static GrpcChannel Create(MeshDefinition mesh, string baseDirectory, Func<X509Certificate2Collection?>? meshTrustBundle = null) =>
        Create(new Uri(mesh.ControlPlane!), mesh.ControlPlaneCa is { } ca ? Path.GetFullPath(ca, baseDirectory) : null, meshTrustBundle);

    /// <param name="controlPlane">http://host:port (h2c) or https://host:port.</param>
    /// <param name="caFile">PEM file of the roots the control plane's certificate must chain to (https only); null uses the system trust store. Read at each new connection, so a replaced file applies without a restart.</param>
    /// <param name="meshTrustBundle">Further roots trusted beside the file's (the mesh trust bundle fetched from the CA); may return null.</param>
    public static GrpcChannel Create(Uri controlPlane, string? caFile, Func<X509Certificate2Collection?>? meshTrustBundle = null)
    {
        if (controlPlane.Scheme == Uri.UriSchemeHttp && caFile is not null)
            throw new ArgumentException($"a control-plane CA file is only used with an https:// control plane, not {controlPlane}", nameof(caFile));
        var handler = new SocketsHttpHandler
        {
            // gRPC streams (the snapshot watch) live long: keep the connection alive through idle proxies and NATs.
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            EnableMultipleHttp2Connections = true,
        };
        if (controlPlane.Scheme == Uri.UriSchemeHttps && caFile is not null)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, received, errors) => Verify(certificate as X509Certificate2, received, errors, caFile, meshTrustBundle?.Invoke()),
            };
        }
        return GrpcChannel.ForAddress(controlPlane, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    /// <summary>
    /// Checks the chain against the file's roots (and the mesh bundle), and the name as the platform did. Throws an
    /// <see cref="AuthenticationException"/> that says why, which the caller's error message carries.
    /// </summary>
    private static bool Verify(X509Certificate2? certificate, X509Chain? received, SslPolicyErrors errors, string caFile, X509Certificate2Collection? meshTrustBundle)
    {
        if (certificate is null) throw new AuthenticationException("the control plane presented no certificate");
        // The platform checked the name against the URL's host; its chain verdict (system store) is replaced by ours.
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            throw new AuthenticationException($"the control plane's certificate ({certificate.Subject}) is not valid for the host name in the URL (start the control plane with --tls-san for that name)");
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new AuthenticationException($"cannot read mesh.controlPlaneCa {caFile}: {e.Message}", e);
        }
        if (meshTrustBundle is not null) roots.AddRange(meshTrustBundle);
        if (roots.Count == 0) throw new AuthenticationException($"mesh.controlPlaneCa {caFile} holds no PEM certificate");
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // The intermediates the server sent in the handshake (a control plane signing with a supplied intermediate).
        if (received is not null) chain.ChainPolicy.ExtraStore.AddRange(received.ChainPolicy.ExtraStore);
        if (chain.Build(certificate)) return true;
        throw new AuthenticationException(
            $"the control plane's certificate ({certificate.Subject}, issued by {certificate.Issuer}) does not chain to a root in mesh.controlPlaneCa {caFile}: {string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))}");
    }
}
