using System.Text.Json;
using System.Text.Json.Serialization;

namespace Meshgate.Mesh.ControlPlane;

// The control plane's admin answers, named so that System.Text.Json's source generator can describe them (the Native
// AOT build has no reflection serializer for them). Names are camel-cased by the web defaults; order is the JSON's.

/// <summary>GET /admin/services.</summary>
internal sealed record ServicesView(long Version, double TtlSeconds, IEnumerable<ServiceView> Services);

internal sealed record ServiceView(string Name, IEnumerable<ServiceInstanceView> Instances);

/// <param name="ExpiresAt">Null with etcd: the lease lives in etcd and any replica renews it.</param>
internal sealed record ServiceInstanceView(string InstanceId, string Address, int Port, IReadOnlyDictionary<string, string> Labels, DateTimeOffset? ExpiresAt);

/// <summary>The answer of POST /admin/ca/rotate.</summary>
internal sealed record RootRotationView(CertificateView Root, IEnumerable<TrustedRootView> TrustBundle, ServingCertificateView? ServingCertificate, string? TrustBundleFile);

internal sealed record CertificateView(string Subject, string Thumbprint, DateTimeOffset NotAfter);

internal sealed record TrustedRootView(string Subject, string Thumbprint);

internal sealed record ServingCertificateView(string Serial, string Issuer);

/// <summary>GET /admin/proxies.</summary>
internal sealed record ProxiesView(long Version, List<ProxyView> Proxies);

internal sealed record ProxyView(string ProxyId, string Kind, bool Connected, long VersionSent, long VersionAcked, long LastNackVersion, string? LastNackReason);

/// <summary>A refusal of the admin API.</summary>
internal sealed record AdminErrorView(string Error);

/// <summary>
/// The mesh project's JSON with the web defaults (as the admin app's options and the etcd records had them): the control
/// plane admin's answers and the instances in etcd.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ServicesView))]
[JsonSerializable(typeof(RootRotationView))]
[JsonSerializable(typeof(ProxiesView))]
[JsonSerializable(typeof(AdminErrorView))]
[JsonSerializable(typeof(Etcd.EtcdMeshStore.StoredInstance))]
internal sealed partial class MeshJsonContext : JsonSerializerContext;
