using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>Registers the mesh certificate authority and maps its gRPC service (meshgate.mesh.v1.CertificateAuthority).</summary>
public static class CertificateAuthorityServiceCollectionExtensions
{
    /// <summary>
    /// Adds the CA with <paramref name="options"/>. Bad options throw here, with every problem in the message, so the
    /// host fails at start; the roots are loaded (or the first one made) when the host starts.
    /// </summary>
    public static IServiceCollection AddMeshCertificateAuthority(this IServiceCollection services, CertificateAuthorityOptions options)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("certificate authority: " + string.Join("; ", errors), nameof(options));
        services.AddGrpc();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton<MeshCertificateAuthority>();
        services.AddSingleton<BootstrapTokenVerifier>();
        services.AddHostedService<CertificateAuthorityStartup>();
        return services;
    }

    /// <summary>Maps the CA's gRPC service. It needs HTTP/2 on the listener (h2c or TLS).</summary>
    public static GrpcServiceEndpointConventionBuilder MapMeshCertificateAuthority(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGrpcService<CertificateAuthorityService>();
}
