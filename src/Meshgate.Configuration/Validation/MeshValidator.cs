using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level mesh section: where the control plane is, and the identity this proxy asks its CA for.</summary>
internal static class MeshValidator
{
    public static void Validate(MeshDefinition? mesh, ValidationContext context)
    {
        if (mesh is null) return;
        if (mesh.ControlPlane is { } url && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.AbsolutePath == "/" && uri.Query.Length == 0))
        {
            context.Error("mesh.controlPlane", $"'{url}' is not an http:// or https:// URL of the control plane's gRPC listener, e.g. http://127.0.0.1:15010");
        }
        if (mesh.Service is { } service && !IsSpiffeSegment(service))
        {
            context.Error("mesh.service", $"'{service}' is not a valid service name: use letters, digits, '-', '_' and '.' (it becomes part of a SPIFFE id)");
        }
        if (!IsSpiffeSegment(mesh.Namespace))
        {
            context.Error("mesh.namespace", $"'{mesh.Namespace}' is not a valid namespace: use letters, digits, '-', '_' and '.' (it becomes part of a SPIFFE id)");
        }
        var sources = (mesh.TokenFile is null ? 0 : 1) + (mesh.TokenEnv is null ? 0 : 1);
        if (sources != 1)
        {
            context.Error("mesh", "give exactly one of tokenFile, tokenEnv: the bootstrap token the control plane's CA signs this proxy's certificate for");
        }
        if (mesh.TokenEnv is { } env && string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(env)))
        {
            context.Error("mesh.tokenEnv", $"environment variable '{env}' is not set or empty");
        }
        context.CheckFile("mesh.tokenFile", mesh.TokenFile);
    }

    /// <summary>Listeners with meshTls: they present the workload certificate, so they need the mesh section, and they replace tls.</summary>
    public static void ValidateListeners(MeshgateDefinition definition, ValidationContext context)
    {
        for (var i = 0; i < definition.Listeners.Count; i++)
        {
            var listener = definition.Listeners[i];
            if (listener.MeshTls is not { } mode) continue;
            var name = mode == MeshTlsMode.Strict ? "strict" : "permissive";
            if (listener.Tls is not null)
            {
                context.Error($"listeners[{i}]", $"give either tls or meshTls, not both: meshTls: {name} presents the workload certificate from the mesh's CA");
            }
            if (definition.Mesh is null)
            {
                context.Error($"listeners[{i}].meshTls", $"meshTls: {name} needs the mesh: section (controlPlane, service, tokenFile or tokenEnv): the listener's certificate comes from the control plane's CA");
            }
        }
    }

    // SPIFFE path segments: no empty, '.' or '..' segment, and only characters that need no escaping (as the CA checks).
    internal static bool IsSpiffeSegment(string value) =>
        value.Length is > 0 and <= 128 && value is not "." and not ".." &&
        value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
