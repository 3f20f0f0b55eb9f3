using System.Formats.Asn1;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Authorization;

/// <summary>Whether a request satisfies a rule: every condition the rule lists must hold.</summary>
internal static class AccessRuleEvaluator
{
    public static bool Matches(AccessRule rule, HttpContext context)
    {
        var request = context.Request;
        if (rule.Methods is { } methods && !methods.Contains(request.Method)) return false;
        if (rule.Paths is { } paths && !AnyPath(paths, request.Path)) return false;
        if (rule.SourceIps is { } networks && !InAny(networks, ClientAddress(context))) return false;

        var user = context.User;
        if (rule.Authenticated is { } authenticated && (user.Identity?.IsAuthenticated == true) != authenticated) return false;
        if (rule.Consumers is { } consumers && !(user.FindFirst(MeshgateClaims.Consumer)?.Value is { } consumer && consumers.Contains(consumer))) return false;
        if (rule.Scopes is { } scopes && !HasAllScopes(user, scopes)) return false;
        if (rule.Roles is { } roles && !user.Claims.Any(c => (c.Type == MeshgateClaims.Role || c.Type == ClaimTypes.Role) && roles.Contains(c.Value))) return false;
        if (rule.Claims is { } claims && !claims.All(condition => Holds(condition, user))) return false;
        if (rule.ClientCertificate is { } identity && !CertificateMatches(identity, context.Connection.ClientCertificate)) return false;
        return true;
    }

    private static bool AnyPath(IReadOnlyList<PathPattern> patterns, PathString path)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.Prefix ? path.StartsWithSegments(pattern.Path, StringComparison.OrdinalIgnoreCase) : path.Equals(pattern.Path, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    private static IPAddress? ClientAddress(HttpContext context)
    {
        var address = context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? context.Connection.RemoteIpAddress;
        return address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
    }

    private static bool InAny(IReadOnlyList<IPNetwork> networks, IPAddress? address)
    {
        if (address is null) return false;
        foreach (var network in networks)
        {
            if (network.Contains(address)) return true;
        }
        return false;
    }

    /// <summary>Scope claims may arrive one per claim or space-separated in one (OAuth's "scope" / "scp").</summary>
    private static bool HasAllScopes(ClaimsPrincipal user, IReadOnlyList<string> required)
    {
        var granted = user.Claims
            .Where(c => c.Type is MeshgateClaims.Scope or "scp")
            .SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToHashSet(StringComparer.Ordinal);
        return required.All(granted.Contains);
    }

    private static bool Holds(ClaimCondition condition, ClaimsPrincipal user)
    {
        foreach (var claim in user.FindAll(condition.Type))
        {
            if (condition.EqualTo is { } equal && string.Equals(claim.Value, equal, StringComparison.Ordinal)) return true;
            if (condition.Contains is { } part && claim.Value.Contains(part, StringComparison.Ordinal)) return true;
            if (condition.AnyOf is { } any && any.Contains(claim.Value)) return true;
        }
        return false;
    }

    private static bool CertificateMatches(ClientCertificateMatch identity, X509Certificate2? certificate)
    {
        if (certificate is null) return false;
        if (identity.Subjects.Contains(certificate.Subject)) return true;
        if (identity.DnsNames.Count == 0 && identity.Uris.Count == 0) return false;
        foreach (var extension in certificate.Extensions)
        {
            if (extension is not X509SubjectAlternativeNameExtension san) continue;
            foreach (var dns in san.EnumerateDnsNames())
            {
                if (identity.DnsNames.Contains(dns)) return true;
            }
            foreach (var uri in SanUris(san))
            {
                if (identity.Uris.Contains(uri)) return true;
            }
        }
        return false;
    }

    /// <summary>URIs of a SAN extension (GeneralName [6] IA5String), which .NET has no enumerator for.</summary>
    internal static IReadOnlyList<string> SanUris(X509Extension san)
    {
        var uris = new List<string>();
        try
        {
            var sequence = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (sequence.HasData)
            {
                if (sequence.PeekTag().HasSameClassAndValue(uriTag)) uris.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                else sequence.ReadEncodedValue();
            }
        }
        catch (AsnContentException)
        {
            // A malformed SAN names nobody.
        }
        return uris;
    }
}
