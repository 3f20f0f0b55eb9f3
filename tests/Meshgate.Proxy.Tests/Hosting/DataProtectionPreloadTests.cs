using Meshgate.Proxy.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Meshgate.Proxy.Tests.Hosting;

public sealed class DataProtectionPreloadTests
{
    private static string[] HostedServices(IServiceCollection services) =>
        services.Where(d => d.ServiceType == typeof(IHostedService)).Select(d => d.ImplementationType?.FullName ?? "").ToArray();

    [Fact]
    public void RemoveDataProtectionPreload_AfterYarp_RemovesOnlyTheKeyRingPreload()
    {
        var services = new ServiceCollection();
        services.AddReverseProxy();
        services.AddHostedService<OtherHostedService>();
        // YARP registers Data Protection, and with it the hosted service this removes: if ASP.NET Core renames it,
        // this fails instead of the removal silently doing nothing.
        Assert.Contains(DataProtectionPreload.HostedServiceTypeName, HostedServices(services));

        services.RemoveDataProtectionPreload();

        Assert.DoesNotContain(DataProtectionPreload.HostedServiceTypeName, HostedServices(services));
        Assert.Contains(typeof(OtherHostedService).FullName, HostedServices(services));
        // Data Protection itself stays, for whatever protects a value later (its key ring then loads on first use).
        using var provider = services.BuildServiceProvider();
        Assert.NotNull(provider.GetService<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider>());
    }

    private sealed class OtherHostedService : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
