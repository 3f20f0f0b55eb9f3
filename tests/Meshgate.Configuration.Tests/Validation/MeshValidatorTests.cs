namespace Meshgate.Configuration.Tests.Validation;

public sealed class MeshValidatorTests
{
    // Line 1 holds the listener, line 2 "mesh:"; the keys under test start on line 3.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nmesh:\n";
    private const string Valid = "  controlPlane: http://127.0.0.1:15010\n  service: gateway\n  tokenEnv: PATH\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { Head + "  controlPlane: 127.0.0.1:15010\n  service: gateway\n  tokenEnv: PATH\n", 3, "mesh.controlPlane", "'127.0.0.1:15010' is not an http:// or https:// URL of the control plane's gRPC listener, e.g. http://127.0.0.1:15010" },
        { Head + "  controlPlane: http://cp:15010/v1\n  service: gateway\n  tokenEnv: PATH\n", 3, "mesh.controlPlane", "is not an http:// or https:// URL" },
        { Head + "  controlPlane: http://cp:15010\n  service: \"gate way\"\n  tokenEnv: PATH\n", 4, "mesh.service", "'gate way' is not a valid service name" },
        { Head + Valid + "  namespace: \"..\"\n", 6, "mesh.namespace", "'..' is not a valid namespace" },
        { Head + "  controlPlane: http://cp:15010\n  service: gateway\n", 2, "mesh", "give exactly one of tokenFile, tokenEnv" },
        { Head + Valid + "  tokenFile: /etc/hostname\n", 2, "mesh", "give exactly one of tokenFile, tokenEnv" },
        { Head + "  controlPlane: http://cp:15010\n  service: gateway\n  tokenEnv: MESHGATE_TEST_UNSET_VARIABLE\n", 5, "mesh.tokenEnv", "environment variable 'MESHGATE_TEST_UNSET_VARIABLE' is not set or empty" },
        { Head + "  controlPlane: http://cp:15010\n  service: gateway\n  tokenFile: /nonexistent/token\n", 5, "mesh.tokenFile", "/nonexistent/token" },
        { Head + "  service: gateway\n  tokenEnv: PATH\n", 3, "mesh.controlPlane", "required" },
        { Head + Valid + "  srvice: x\n", 6, "mesh.srvice", "unknown key 'srvice' (did you mean 'service'?)" },
        { Head + Valid + "  controlPlaneCa: /etc/hostname\n", 6, "mesh.controlPlaneCa", "controlPlaneCa is only used with an https:// controlPlane, but controlPlane is 'http://127.0.0.1:15010'" },
        { Head + "  controlPlane: https://cp:15010\n  service: gateway\n  tokenEnv: PATH\n  controlPlaneCa: /nonexistent/ca.pem\n", 6, "mesh.controlPlaneCa", "/nonexistent/ca.pem" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidMesh_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_CompleteMeshSection_IsAccepted() => Assert.Empty(ConfigText.Errors(Head + Valid));

    [Fact]
    public void Validate_HttpsControlPlane_WithOrWithoutControlPlaneCa_IsAccepted()
    {
        const string https = "  controlPlane: https://cp.example:15010\n  service: gateway\n  tokenEnv: PATH\n";
        Assert.Empty(ConfigText.Errors(Head + https));
        Assert.Empty(ConfigText.Errors(Head + https + "  controlPlaneCa: /etc/hostname\n"));
    }
}
