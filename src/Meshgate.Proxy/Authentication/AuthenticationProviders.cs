using System.Collections.Concurrent;
using Meshgate.Configuration;
using Meshgate.Proxy.Authentication.ApiKeys;
using Meshgate.Proxy.Authentication.Jwt;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Authentication;

/// <summary>
/// Runtime providers by name and fingerprint: a reload that leaves a provider unchanged keeps its fetched
/// keys and accepted-token cache; a changed definition, secret or key file gets a fresh one.
/// </summary>
internal sealed class AuthenticationProviders(TimeProvider time, ILoggerFactory loggers) : IDisposable
{
    private readonly ConcurrentDictionary<(string Name, string Fingerprint), Lazy<AuthenticationProvider>> _providers = new();
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(10) };
    private readonly ILogger _logger = loggers.CreateLogger("Meshgate.Proxy.Authentication");

    // Called for every request on an authenticated route: the factory takes its state as an argument, so a
    // lookup that finds the provider allocates nothing (a capturing lambda would allocate on every call).
    public AuthenticationProvider Get(AuthenticationProviderPolicy policy) =>
        _providers.GetOrAdd((policy.Name, policy.Fingerprint),
            static (_, state) => new Lazy<AuthenticationProvider>(() => state.Providers.Create(state.Policy)), (Providers: this, Policy: policy)).Value;

    private AuthenticationProvider Create(AuthenticationProviderPolicy policy)
    {
        // Superseded versions of the same provider are dropped, so repeated reloads do not accumulate caches.
        foreach (var key in _providers.Keys)
        {
            if (string.Equals(key.Name, policy.Name, StringComparison.OrdinalIgnoreCase) && key.Fingerprint != policy.Fingerprint) _providers.TryRemove(key, out _);
        }
        if (policy.ClientCertificate is { } certificate) return new ClientCertificateProvider(policy.Name, certificate.Consumer);
        return policy.Jwt is not null ? new JwtProvider(policy, _http, time, _logger) : new ApiKeyProvider(policy);
    }

    public void Dispose() => _http.Dispose();
}
