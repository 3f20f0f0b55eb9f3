using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

internal static class AuthorizationValidator
{
    private static readonly string[] Reserved = ["default", "disable"];

    public static void Validate(MeshgateDefinition definition, ValidationContext context)
    {
        foreach (var (name, policy) in definition.Authorization)
        {
            var path = $"authorization.{name}";
            if (Reserved.Contains(name, StringComparer.OrdinalIgnoreCase)) context.Error(path, $"'{name}' is a reserved name");
            if (policy.Deny is null or { Count: 0 } && policy.Allow is null or { Count: 0 })
            {
                context.Error(path, "has no rules: give deny or allow rules (an empty policy would allow everything)");
            }
            ValidateRules(policy.Deny, $"{path}.deny", context);
            ValidateRules(policy.Allow, $"{path}.allow", context);
        }

        var names = definition.Authorization.Keys.ToList();
        for (var i = 0; i < definition.Routes.Count; i++)
        {
            if (definition.Routes[i].Authorization is not { } reference || definition.Authorization.ContainsKey(reference)) continue;
            context.UnknownReference($"routes[{i}].authorization", "authorization policy", reference, names, "no authorization policies are defined");
        }
    }

    private static void ValidateRules(List<AccessRuleDefinition>? rules, string path, ValidationContext context)
    {
        for (var i = 0; i < (rules?.Count ?? 0); i++)
        {
            var rule = rules![i];
            var rulePath = $"{path}[{i}]";
            if (rule == new AccessRuleDefinition())
            {
                context.Error(rulePath, "has no conditions, so it matches every request; say what it is about (e.g. sourceIps, scopes, methods)");
            }
            for (var j = 0; j < (rule.SourceIps?.Count ?? 0); j++)
            {
                if (!Addressing.TryParseNetwork(rule.SourceIps![j], out _))
                {
                    context.Error($"{rulePath}.sourceIps[{j}]", $"'{rule.SourceIps[j]}' is not an address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7)");
                }
            }
            for (var j = 0; j < (rule.Methods?.Count ?? 0); j++)
            {
                if (!RouteValidator.IsKnownMethod(rule.Methods![j])) context.Error($"{rulePath}.methods[{j}]", $"'{rule.Methods[j]}' is not an HTTP method");
            }
            for (var j = 0; j < (rule.Paths?.Count ?? 0); j++)
            {
                var p = rule.Paths![j];
                var literal = p.EndsWith("/**", StringComparison.Ordinal) ? p[..^3] : p;
                if (!p.StartsWith('/') || literal.IndexOfAny(['*', '{', '}', '?', '#']) >= 0)
                {
                    context.Error($"{rulePath}.paths[{j}]", $"'{p}' must be an exact path (/orders/export) or a prefix ending in /** (/orders/**)");
                }
            }
            foreach (var (claim, condition) in rule.Claims ?? [])
            {
                var conditions = (condition.EqualTo is not null ? 1 : 0) + (condition.Contains is not null ? 1 : 0) + (condition.AnyOf is not null ? 1 : 0);
                if (conditions != 1) context.Error($"{rulePath}.claims.{claim}", $"give exactly one of equals, contains, anyOf (found {conditions})");
            }
            if (rule.ClientCertificate is { Subjects: null, DnsNames: null, Uris: null })
            {
                context.Error($"{rulePath}.clientCertificate", "give at least one of subjects, dnsNames, uris");
            }
            if (rule.Scopes is { Count: 0 } || rule.Roles is { Count: 0 } || rule.Consumers is { Count: 0 })
            {
                context.Error(rulePath, "an empty list of scopes, roles or consumers matches nothing; leave the key out instead");
            }
        }
    }
}
