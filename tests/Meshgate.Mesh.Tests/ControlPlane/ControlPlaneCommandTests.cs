namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>`meshgate control-plane` run in-process through <see cref="Cli"/>: what a user sees when a flag or the policies file is wrong.</summary>
public sealed class ControlPlaneCommandTests
{
    [Fact]
    public async Task A_bad_policies_file_prints_every_error_with_its_line_and_exits_2()
    {
        var file = Path.Combine(Path.GetTempPath(), $"meshgate-policies-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "services:\n  orders:\n    timeout: 2\n    retries: x\n");
        try
        {
            var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--policies", file);
            Assert.Equal(2, code);
            Assert.Equal(
                [
                    $"{file}: line 3: services.orders.timeout: expected a positive duration with a unit (250ms, 2s, 1m), got '2'",
                    $"{file}: line 4: services.orders.retries: expected a whole number of retries from 0 to 10, got 'x'",
                    "2 errors: the control plane did not start",
                ],
                error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("--listen", "localhost", "--listen: expected IP:port (e.g. 127.0.0.1:15010), got 'localhost'")]
    [InlineData("--admin", "127.0.0.1:99999", "--admin: expected IP:port (e.g. 127.0.0.1:15010), got '127.0.0.1:99999'")]
    [InlineData("--ttl", "30", "--ttl: expected a duration of at least 1s with a unit (30s, 2m), got '30'")]
    [InlineData("--ttl", "100ms", "--ttl: expected a duration of at least 1s with a unit (30s, 2m), got '100ms'")]
    public async Task A_bad_flag_says_what_is_expected_and_exits_1(string flag, string value, string message)
    {
        var (code, error) = await RunAsync("control-plane", flag, value);
        Assert.Equal(1, code);
        Assert.Equal([message], error);
    }

    [Fact]
    public async Task A_certificate_authority_with_half_an_intermediate_says_what_is_missing_and_exits_1()
    {
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ca-intermediate-cert", "/nonexistent/ca.crt");
        Assert.Equal(1, code);
        Assert.Equal(["certificate authority: an intermediate needs both its certificate file and its key file"], error);
    }

    [Fact]
    public async Task A_bad_tokens_file_names_its_line_and_exits_1()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var tokens = Path.Combine(dir.Path, "tokens");
        await File.WriteAllTextAsync(tokens, "default orders\n");
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ca-state-dir", dir.Path, "--ca-tokens-file", tokens);
        Assert.Equal(1, code);
        Assert.Equal([$"--ca-tokens-file: {tokens}:1: expected '<namespace> <service> <sha256-hex> [dns-name ...]'"], error);
    }

    private static async Task<(int Code, string[] Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
