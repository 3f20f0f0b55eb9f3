using System.Text;
using Grpc.Core;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>The gRPC face of <see cref="MeshCertificateAuthority"/>: maps its outcomes to status codes with messages a workload operator can act on.</summary>
internal sealed partial class CertificateAuthorityService(MeshCertificateAuthority authority, BootstrapTokenVerifier tokens, ILogger<CertificateAuthorityService> logger)
    : V1.CertificateAuthority.CertificateAuthorityBase
{
    public override Task<SignResponse> Sign(SignRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.BootstrapToken))
        {
            LogTokenRejected(context.Peer, "missing");
            throw new RpcException(new Status(StatusCode.PermissionDenied, "a bootstrap token is required to get a certificate"));
        }
        if (tokens.Find(request.BootstrapToken) is not { } identity)
        {
            LogTokenRejected(context.Peer, "not valid");
            throw new RpcException(new Status(StatusCode.PermissionDenied, "the bootstrap token is not valid"));
        }

        IssuedCertificate issued;
        try
        {
            issued = authority.Sign(request.Csr.Span, identity);
        }
        catch (CsrRejectedException e)
        {
            LogCsrRejected(identity.Namespace, identity.Service, e.Message);
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        return Task.FromResult(new SignResponse
        {
            CertificatePem = issued.Leaf.ExportCertificatePem(),
            ChainPem = Pem(issued.Chain),
            TrustBundlePem = Pem(issued.TrustBundle),
            SpiffeId = issued.SpiffeId,
            NotAfterUnixSeconds = new DateTimeOffset(issued.Leaf.NotAfter.ToUniversalTime()).ToUnixTimeSeconds(),
        });
    }

    public override Task<TrustBundle> GetTrustBundle(GetTrustBundleRequest request, ServerCallContext context) =>
        Task.FromResult(new TrustBundle { TrustBundlePem = Pem(authority.TrustBundle()), TrustDomain = authority.TrustDomain });

    // Only certificates are ever exported here: no code path in this service touches a private key's PEM.
    private static string Pem(IEnumerable<System.Security.Cryptography.X509Certificates.X509Certificate2> certificates)
    {
        var pem = new StringBuilder();
        foreach (var certificate in certificates) pem.Append(certificate.ExportCertificatePem()).Append('\n');
        return pem.ToString();
    }

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 1, Level = LogLevel.Warning, Message = "Refused a certificate to {Peer}: bootstrap token {Reason}")]
    private partial void LogTokenRejected(string peer, string reason);

    [LoggerMessage(EventId = Meshgate.Common.EventIds.CertificateAuthority + 2, Level = LogLevel.Warning, Message = "Refused a certificate to {Namespace}/{Service}: {Reason}")]
    private partial void LogCsrRejected(string @namespace, string service, string reason);
}
