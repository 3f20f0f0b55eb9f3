using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Meshgate.Proxy.Mirroring;

public static class MirroringServiceCollectionExtensions
{
    /// <summary>The background sender, the comparer and the counts; <c>TryAdd</c>, so a test can swap the clock.</summary>
    public static IServiceCollection AddMeshgateMirroring(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MirrorStatistics>();
        services.TryAddSingleton<MirrorComparer>();
        services.TryAddSingleton<MirrorQueue>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<MirrorQueue>());
        return services;
    }
}
