using System.Diagnostics.Metrics;
using Meshgate.Common;

namespace Meshgate.Proxy.Authentication;

/// <summary>Every instrument authentication emits.</summary>
internal sealed class AuthenticationMetrics
{
    /// <summary>No credentials that any of the route's providers reads were given.</summary>
    public const string MissingCredentials = "missing-credentials";

    /// <summary>Credentials were given and every provider that read them refused them (bad signature, expired, unknown key, ...).</summary>
    public const string InvalidCredentials = "invalid-credentials";

    private readonly Counter<long> _failures;

    public AuthenticationMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _failures = meter.CreateCounter<long>("meshgate.authentication.failures", "{request}",
            "Requests answered 401, by route and reason (missing-credentials, invalid-credentials).");
    }

    /// <param name="reason">One of the constants above: a label from a fixed set, never anything from the request.</param>
    public void Failed(string route, string reason) =>
        _failures.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("reason", reason));
}
