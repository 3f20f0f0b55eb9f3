using System.ComponentModel;

namespace Meshgate.Configuration.Model;

public enum EnforcementMode { Enforce, Shadow }

/// <summary>Access rules for the routes that name this policy in their <c>authorization</c> key.</summary>
public sealed record AuthorizationPolicyDefinition
{
    [Description("Rules that refuse a request (403) when any of them matches. Deny wins over allow.")]
    public List<AccessRuleDefinition>? Deny { get; init; }

    [Description("Rules of which at least one must match. When a policy has allow rules, anything they do not allow is refused (403).")]
    public List<AccessRuleDefinition>? Allow { get; init; }

    [Description("enforce (the default) refuses; shadow only logs what it would refuse and lets the request through.")]
    public EnforcementMode Mode { get; init; } = EnforcementMode.Enforce;
}

/// <summary>One rule: every condition it lists must hold; an empty rule matches everything.</summary>
public sealed record AccessRuleDefinition
{
    [Description("true: the request must be authenticated; false: it must be anonymous.")]
    public bool? Authenticated { get; init; }

    [Description("The consumer (API key owner or mapped JWT claim) is one of these.")]
    public List<string>? Consumers { get; init; }

    [Description("The principal has every one of these scopes.")]
    public List<string>? Scopes { get; init; }

    [Description("The principal has at least one of these roles.")]
    public List<string>? Roles { get; init; }

    [Description("Claim conditions, all of which must hold: claim name -> { equals | contains | anyOf }.")]
    public Dictionary<string, ClaimConditionDefinition>? Claims { get; init; }

    [Description("The client certificate (mTLS listener) has one of these identities.")]
    public ClientCertificateMatchDefinition? ClientCertificate { get; init; }

    [Description("The client address (after trustedProxies) is in one of these CIDRs or addresses.")]
    public List<string>? SourceIps { get; init; }

    [Description("The method is one of these.")]
    public List<string>? Methods { get; init; }

    [Description("The path is one of these: exact (/orders/export) or a prefix on segment boundaries ending in /** (/orders/**). Case-insensitive.")]
    public List<string>? Paths { get; init; }
}

/// <summary>Exactly one of equals, contains, anyOf.</summary>
public sealed record ClaimConditionDefinition
{
    [Description("Some value of the claim equals this (ordinal).")]
    [ConfigKey("equals")]
    public string? EqualTo { get; init; }

    [Description("Some value of the claim contains this (ordinal).")]
    public string? Contains { get; init; }

    [Description("Some value of the claim equals one of these (ordinal).")]
    public List<string>? AnyOf { get; init; }
}

/// <summary>Any of the listed identities matches.</summary>
public sealed record ClientCertificateMatchDefinition
{
    [Description("Subject distinguished names, as .NET formats them (CN=client-a, O=Partner).")]
    public List<string>? Subjects { get; init; }

    [Description("DNS names in the subject alternative name.")]
    public List<string>? DnsNames { get; init; }

    [Description("URIs in the subject alternative name (e.g. spiffe://example.org/ns/a/sa/b).")]
    public List<string>? Uris { get; init; }
}
