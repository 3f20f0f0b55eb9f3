using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Proxy.Authentication;

public static class AuthenticationServiceCollectionExtensions
{
    /// <summary>Registers the runtime providers that <see cref="AuthenticationMiddleware"/> uses.</summary>
    public static IServiceCollection AddMeshgateAuthentication(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<AuthenticationProviders>();
        services.AddMetrics();
        services.TryAddSingleton<AuthenticationMetrics>();
        return services;
    }
}
