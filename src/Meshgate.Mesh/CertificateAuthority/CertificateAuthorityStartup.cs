using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>
/// Loads the roots (or makes the first one) when the host starts, so a bad state directory or intermediate stops the
/// host at once instead of failing the first workload that asks for a certificate.
/// </summary>
internal sealed class CertificateAuthorityStartup(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetRequiredService<MeshCertificateAuthority>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
