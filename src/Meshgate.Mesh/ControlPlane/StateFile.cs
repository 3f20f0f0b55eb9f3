using System.Text.Json;
using Google.Protobuf;
using Meshgate.Mesh.V1;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>
/// The control plane's embedded storage: registrations, policies and the last version in one JSON file, replaced
/// atomically (written to a temp file, then renamed over the old one) so a crash never leaves half a file.
/// </summary>
public sealed class StateFile(string path)
{
    public sealed record Instance(string Service, string InstanceId, string Address, int Port, Dictionary<string, string> Labels);

    public sealed record State(long Version, List<Instance> Instances, string? PoliciesJson);

    public string Path { get; } = path;

    /// <summary>The saved state, or null when there is no file yet. A file that cannot be read is an error (refuse to start).</summary>
    public State? Load()
    {
        if (!File.Exists(Path)) return null;
        try
        {
            var state = JsonSerializer.Deserialize(File.ReadAllText(Path), StateFileJsonContext.Default.State);
            if (state?.Instances is null) throw new InvalidDataException($"state file {Path} is not valid: it has no Instances list");
            return state;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"state file {Path} is not valid: {e.Message}", e);
        }
    }

    public MeshPolicies? PoliciesOf(State state)
    {
        try
        {
            return state.PoliciesJson is { Length: > 0 } json ? MeshPolicies.Parser.ParseJson(json) : null;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"state file {Path} is not valid: its policies cannot be read: {e.Message}", e);
        }
    }

    public void Save(MeshSnapshot snapshot, IReadOnlyList<RegisteredInstance> instances)
    {
        var state = new State(
            snapshot.Version,
            [.. instances.Select(i => new Instance(i.Service, i.InstanceId, i.Address, i.Port, new Dictionary<string, string>(i.Labels)))],
            JsonFormatter.Default.Format(snapshot.Policies));
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!;
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(Path)}.{Environment.ProcessId}.tmp");
        File.WriteAllText(temp, JsonSerializer.Serialize(state, StateFileJsonContext.Default.State));
        File.Move(temp, Path, overwrite: true);
    }
}

/// <summary>The state file's JSON: the serializer's defaults (property names as in C#), indented; compiled for the Native AOT build.</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(StateFile.State))]
internal sealed partial class StateFileJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
