using Meshgate.Mesh.Sidecar;

namespace Meshgate.Mesh.Tests.Sidecar;

/// <summary>The admin URL a sidecar registers (label meshgate.admin): one others can reach, never a wildcard.</summary>
public sealed class AdvertisedAdminUrlTests
{
    [Theory]
    [InlineData("http://127.0.0.1:15000", null, "http://127.0.0.1:15000")]
    [InlineData("http://127.0.0.1:41234/", "10.0.0.5", "http://127.0.0.1:41234")] // loopback stays loopback: that is where it listens
    [InlineData("http://0.0.0.0:15000", null, "http://127.0.0.1:15000")]
    [InlineData("http://0.0.0.0:15000", "10.0.0.5", "http://10.0.0.5:15000")]
    [InlineData("http://[::]:15000", "10.0.0.5", "http://10.0.0.5:15000")]
    [InlineData("http://[::]:15000", "fd00::5", "http://[fd00::5]:15000")]
    [InlineData("http://localhost:15000", null, "http://127.0.0.1:15000")]
    [InlineData("http://[::1]:15000", null, "http://[::1]:15000")]
    public void AdvertisedAdminUrl_BoundAddress_ReachableUrl(string bound, string? advertise, string expected) =>
        Assert.Equal(expected, InstanceRegistration.AdvertisedAdminUrl(new Uri(bound), advertise));
}
