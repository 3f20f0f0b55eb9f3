namespace Meshgate.Configuration.Tests.Validation;

/// <summary>listeners[].meshTls: needs the mesh section, and replaces tls.</summary>
public sealed class MeshTlsValidatorTests
{
    private const string Mesh = "mesh:\n  controlPlane: http://127.0.0.1:15010\n  service: orders\n  tokenEnv: PATH\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { "listeners:\n  - name: inbound\n    address: 127.0.0.1:15006\n    meshTls: strict\n", 4, "listeners[0].meshTls",
            "meshTls: strict needs the mesh: section (controlPlane, service, tokenFile or tokenEnv): the listener's certificate comes from the control plane's CA" },
        { "listeners:\n  - name: inbound\n    address: 127.0.0.1:15006\n    meshTls: permissive\n", 4, "listeners[0].meshTls", "meshTls: permissive needs the mesh: section" },
        { Mesh + "listeners:\n  - name: inbound\n    address: 127.0.0.1:15006\n    meshTls: strict\n    tls: { cert: /etc/hostname, key: /etc/hostname }\n", 6, "listeners[0]",
            "give either tls or meshTls, not both: meshTls: strict presents the workload certificate from the mesh's CA" },
        { Mesh + "listeners:\n  - name: inbound\n    address: 127.0.0.1:15006\n    meshTls: mutual\n", 8, "listeners[0].meshTls", "mutual" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidMeshTls_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Theory]
    [InlineData("strict")]
    [InlineData("permissive")]
    public void Validate_MeshTlsWithMeshSection_IsAccepted(string mode) =>
        Assert.Empty(ConfigText.Errors(Mesh + $"listeners:\n  - name: inbound\n    address: 127.0.0.1:15006\n    meshTls: {mode}\n    protocols: [http1, http2]\n"));
}
