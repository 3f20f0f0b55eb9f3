using Meshgate.Configuration.Model;

namespace Meshgate.Mesh.Identity;

/// <summary>Where a workload gets its certificate and how it keeps it fresh (from the config's mesh: section, plus process settings).</summary>
public sealed record WorkloadIdentityOptions
{
    /// <summary>The control plane's gRPC listener, where the CertificateAuthority service is.</summary>
    public required Uri ControlPlane { get; init; }

    /// <summary>The service this workload speaks for (the bootstrap token decides the identity; this is for messages).</summary>
    public required string Service { get; init; }

    public string Namespace { get; init; } = "default";

    /// <summary>Reads the bootstrap token; called before every signing request, so a replaced token file is picked up.</summary>
    public required Func<string> Token { get; init; }

    /// <summary>Renew when this share of the time between receiving a leaf and its expiry has passed. Default two thirds.</summary>
    public double RenewAt { get; init; } = 2.0 / 3.0;

    /// <summary>First wait after a failed request to the control plane; doubled on each further failure up to <see cref="RetryMax"/>.</summary>
    public TimeSpan RetryInitial { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the trust bundle is fetched between renewals, so a CA root rotation reaches this workload. Default 1 minute.</summary>
    public TimeSpan TrustBundleRefresh { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Deadline of each call to the CA.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The options of a validated mesh: section; a relative tokenFile is taken from <paramref name="baseDirectory"/> (the config file's).</summary>
    public static WorkloadIdentityOptions FromDefinition(MeshDefinition mesh, string baseDirectory)
    {
        Func<string> token = mesh.TokenFile is { } file
            ? () => File.ReadAllText(Path.GetFullPath(file, baseDirectory)).Trim()
            : () => Environment.GetEnvironmentVariable(mesh.TokenEnv!)?.Trim() is { Length: > 0 } value
                ? value
                : throw new IOException($"environment variable '{mesh.TokenEnv}' is not set or empty");
        return new WorkloadIdentityOptions
        {
            ControlPlane = new Uri(mesh.ControlPlane!),
            Service = mesh.Service!,
            Namespace = mesh.Namespace,
            Token = token,
        };
    }
}
