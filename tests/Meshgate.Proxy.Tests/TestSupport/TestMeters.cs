using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>A real meter factory, as the host registers it, for classes that create instruments.</summary>
internal static class TestMeters
{
    public static IMeterFactory Factory { get; } = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
}
