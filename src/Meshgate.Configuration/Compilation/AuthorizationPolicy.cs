using System.Collections.Frozen;
using System.Net;

namespace Meshgate.Configuration.Compilation;

/// <summary>A compiled authorization policy: deny rules, allow rules, and whether it only observes.</summary>
public sealed record AuthorizationPolicy(string Name, IReadOnlyList<AccessRule> Deny, IReadOnlyList<AccessRule> Allow, bool Shadow);

/// <summary>A compiled rule; null members are conditions the rule does not have.</summary>
public sealed record AccessRule
{
    public bool? Authenticated { get; init; }
    public FrozenSet<string>? Consumers { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public FrozenSet<string>? Roles { get; init; }
    public IReadOnlyList<ClaimCondition>? Claims { get; init; }
    public ClientCertificateMatch? ClientCertificate { get; init; }
    public IReadOnlyList<IPNetwork>? SourceIps { get; init; }
    public FrozenSet<string>? Methods { get; init; }
    public IReadOnlyList<PathPattern>? Paths { get; init; }
}

public sealed record ClaimCondition(string Type, string? EqualTo, string? Contains, FrozenSet<string>? AnyOf);

public sealed record ClientCertificateMatch(FrozenSet<string> Subjects, FrozenSet<string> DnsNames, FrozenSet<string> Uris);

/// <summary>An exact path, or (Prefix) a path prefix on segment boundaries.</summary>
public sealed record PathPattern(string Path, bool Prefix);
