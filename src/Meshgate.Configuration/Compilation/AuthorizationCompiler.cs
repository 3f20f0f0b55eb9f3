using System.Collections.Frozen;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration.Compilation;

internal static class AuthorizationCompiler
{
    public static AuthorizationPolicy Compile(string name, AuthorizationPolicyDefinition definition) =>
        new(name, (definition.Deny ?? []).Select(Compile).ToList(), (definition.Allow ?? []).Select(Compile).ToList(), definition.Mode == EnforcementMode.Shadow);

    private static AccessRule Compile(AccessRuleDefinition rule) => new()
    {
        Authenticated = rule.Authenticated,
        Consumers = rule.Consumers?.ToFrozenSet(StringComparer.Ordinal),
        Scopes = rule.Scopes,
        Roles = rule.Roles?.ToFrozenSet(StringComparer.Ordinal),
        Claims = rule.Claims?.Select(c => new ClaimCondition(c.Key, c.Value.EqualTo, c.Value.Contains, c.Value.AnyOf?.ToFrozenSet(StringComparer.Ordinal))).ToList(),
        ClientCertificate = rule.ClientCertificate is { } certificate
            ? new ClientCertificateMatch(
                (certificate.Subjects ?? []).ToFrozenSet(StringComparer.OrdinalIgnoreCase),
                (certificate.DnsNames ?? []).ToFrozenSet(StringComparer.OrdinalIgnoreCase),
                (certificate.Uris ?? []).ToFrozenSet(StringComparer.Ordinal))
            : null,
        SourceIps = rule.SourceIps?.Select(ip => { Addressing.TryParseNetwork(ip, out var network); return network; }).ToList(),
        Methods = rule.Methods?.Select(m => m.ToUpperInvariant()).ToFrozenSet(StringComparer.Ordinal),
        Paths = rule.Paths?.Select(p => p.EndsWith("/**", StringComparison.Ordinal) ? new PathPattern(p[..^3], Prefix: true) : new PathPattern(p, Prefix: false)).ToList(),
    };
}
