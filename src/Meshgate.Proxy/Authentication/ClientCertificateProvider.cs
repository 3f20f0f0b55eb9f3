using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration.Model;
using Meshgate.Proxy.Authorization;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Authentication;

/// <summary>
/// The identity of a client certificate. Trust was decided in the TLS handshake (the listener's CA
/// bundle, validity, client-auth usage); this turns the verified certificate into the consumer and
/// subject claims every other step reads, so mTLS clients get identity headers and access rules like
/// token and key holders.
/// </summary>
internal sealed class ClientCertificateProvider(string name, CertificateIdentity consumerFrom) : AuthenticationProvider
{
    // The certificate comes from the TLS handshake, not from any header.
    public override string? CredentialHeader => null;

    public override ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context, string routeId)
    {
        if (context.Connection.ClientCertificate is not { } certificate) return ValueTask.FromResult(AuthenticationOutcome.NoCredentials);
        if (ConsumerOf(certificate, consumerFrom) is not { Length: > 0 } consumer) return ValueTask.FromResult(AuthenticationOutcome.Rejected);
        var claims = new List<Claim>
        {
            new(MeshgateClaims.Consumer, consumer),
            new(MeshgateClaims.Subject, certificate.Subject),
            new(MeshgateClaims.Provider, name),
        };
        var identity = new ClaimsIdentity(claims, "meshgate:" + name, MeshgateClaims.Consumer, MeshgateClaims.Role);
        return ValueTask.FromResult(AuthenticationOutcome.Accepted(new ClaimsPrincipal(identity)));
    }

    internal static string? ConsumerOf(X509Certificate2 certificate, CertificateIdentity from) => from switch
    {
        CertificateIdentity.Subject => certificate.Subject,
        CertificateIdentity.DnsName => San(certificate)?.EnumerateDnsNames().FirstOrDefault(),
        CertificateIdentity.Uri => San(certificate) is { } san ? AccessRuleEvaluator.SanUris(san).FirstOrDefault() : null,
        _ => certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false),
    };

    private static X509SubjectAlternativeNameExtension? San(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();

    // No HTTP scheme exists for TLS client authentication; the name tells a client what is missing.
    public override string Challenge(bool rejected) => "ClientCertificate";

    public override string Detail(bool rejected) => rejected
        ? "The client certificate does not carry the identity this route needs."
        : "This route needs a client certificate (TLS client authentication) from a trusted CA.";
}
