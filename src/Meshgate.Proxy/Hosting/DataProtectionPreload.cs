using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Meshgate.Proxy.Hosting;

/// <summary>
/// YARP registers ASP.NET Core Data Protection for its session-affinity cookies and headers, which Meshgate's
/// config never turns on. Data Protection comes with a hosted service that loads its key ring when the host starts:
/// it reads (and on a first start writes) XML key files under ~/.aspnet/DataProtection-Keys, which loads
/// System.Private.Xml and the XML encryption code into every gateway (about 5 MiB of idle RSS,
/// docs/performance.md#memory). Without that hosted service the key ring is loaded the first time something protects
/// or unprotects a value, as Data Protection does when its hosted service is absent.
/// </summary>
public static class DataProtectionPreload
{
    // Data Protection's own type is internal, so it is recognised by name; IdleMemoryTests fails if it is renamed.
    internal const string HostedServiceTypeName = "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService";

    /// <summary>Removes Data Protection's start-up load of the key ring (call after YARP's registrations).</summary>
    public static IServiceCollection RemoveDataProtectionPreload(this IServiceCollection services)
    {
        for (var i = services.Count - 1; i >= 0; i--)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType == typeof(IHostedService) && !descriptor.IsKeyedService
                && descriptor.ImplementationType?.FullName == HostedServiceTypeName)
            {
                services.RemoveAt(i);
            }
        }
        return services;
    }
}
