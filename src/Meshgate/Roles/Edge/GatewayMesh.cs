using System.Runtime.CompilerServices;
using Meshgate.Configuration.Model;

namespace Meshgate.Roles.Edge;

/// <summary>Called with each mesh snapshot the proxy applied (the sidecar rewrites its config from it); its error NACKs the snapshot.</summary>
public delegate Task<string?> MeshSnapshotApplied(Mesh.V1.MeshSnapshot snapshot, CancellationToken cancellationToken);

/// <summary>
/// What a gateway with a mesh section adds to <see cref="GatewayHost"/>, kept out of its methods so that a gateway
/// without one never loads Meshgate.Mesh, gRPC and Google.Protobuf: the JIT loads every type a method names when it
/// compiles the method, whether the branch that names it runs or not, and a loaded assembly costs about its file size in
/// RSS (docs/performance.md#memory; IdleMemoryTests). Not inlined for the same reason.
/// </summary>
internal static class GatewayMesh
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void AddOwnIdentity(IServiceCollection services, MeshDefinition mesh, string configDirectory)
    {
        var options = Mesh.Identity.WorkloadIdentityOptions.FromDefinition(mesh, configDirectory);
        services.AddSingleton(sp => new Mesh.Identity.WorkloadIdentity(options,
            sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<Mesh.Identity.WorkloadIdentity>>()));
        services.AddSingleton<Proxy.Mesh.IWorkloadIdentity>(sp => sp.GetRequiredService<Mesh.Identity.WorkloadIdentity>());
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void AddWatch(IServiceCollection services, MeshDefinition mesh, string meshKind, MeshSnapshotApplied? applied, string configDirectory) =>
        Mesh.Discovery.MeshWatchServiceCollectionExtensions.AddMeshWatch(services, mesh, meshKind, applied: applied is null ? null : applied.Invoke, baseDirectory: configDirectory);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void StartOwnIdentity(IServiceProvider services) => services.GetRequiredService<Mesh.Identity.WorkloadIdentity>().Start();

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Task WaitForCertificateAsync(IServiceProvider services, TimeSpan timeout, CancellationToken cancellationToken) =>
        services.GetRequiredService<Mesh.Identity.WorkloadIdentity>().WaitForCertificateAsync(timeout, cancellationToken);

    /// <summary>Whether <paramref name="e"/> says the workload certificate could not be got (start fails with its reason).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool IsIdentityUnavailable(Exception e) => e is Mesh.Identity.WorkloadIdentityUnavailableException;
}
