namespace Meshgate.Configuration.Tests.Commands;

/// <summary>`meshgate sidecar` refuses options it cannot run with: exit 2 and a message naming the option, before anything starts.</summary>
public sealed class SidecarCommandTests
{
    private static readonly string[] Base = ["sidecar", "--service", "orders", "--app-port", "5000", "--control-plane", "https://127.0.0.1:1"];

    public static TheoryData<string[], string> Refused => new()
    {
        { [], "give exactly one of --token, --token-file, --token-env" },
        { ["--token", "t", "--token-env", "X"], "give exactly one of --token, --token-file, --token-env" },
        { ["--token-env", "PATH", "--service-port", "orders"], "--service-port orders: expected NAME=VALUE" },
        { ["--token-env", "PATH", "--service-port", "orders=http"], "--service-port orders=http: the port must be a number from 1 to 65535" },
        { ["--token-env", "PATH", "--label", "=v2"], "--label =v2: expected NAME=VALUE" },
        { ["--token-env", "PATH", "--mode", "lenient"], "--mode: expected strict or permissive, got 'lenient'" },
        { ["--token-env", "PATH", "--mesh-forwarder", "fast"], "--mesh-forwarder: expected auto, yarp or direct, got 'fast'" },
        { ["--token-env", "PATH", "--inbound", "nowhere"], "listeners[0].address" },
        { ["--token-env", "MESHGATE_TEST_UNSET_VARIABLE"], "mesh.tokenEnv: environment variable 'MESHGATE_TEST_UNSET_VARIABLE' is not set or empty" },
        { ["--token-file", "/nonexistent/token"], "mesh.tokenFile: file '/nonexistent/token' does not exist" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task BadOptions_Exit2WithTheReason(string[] extra, string message)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await Cli.RunAsync([.. Base, .. extra], output, error);

        Assert.Equal(2, code);
        Assert.Contains(message, error.ToString());
    }
}
