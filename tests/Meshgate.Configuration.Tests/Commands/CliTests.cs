namespace Meshgate.Configuration.Tests.Commands;

/// <summary>The real `meshgate` commands, run in-process through <see cref="Cli"/> with captured output.</summary>
public sealed class CliTests
{
    private const string Invalid = """
        listeners:
          - name: public
            address: 127.0.0.1:0
        routes:
          - id: orders
            match: { path: /orders }
            cluster: ordrs
        clusters:
          - id: orders
            endpoints: [ftp://10.0.0.1]
        """;

    private static readonly string[] InvalidErrors =
    [
        "invalid.yaml:10 clusters[0].endpoints[0]: 'ftp://10.0.0.1' is not an absolute http:// or https:// URL",
        "invalid.yaml:7 routes[0].cluster: unknown cluster 'ordrs' (did you mean 'orders'?)",
        "2 errors: the config was not applied",
    ];

    [Fact]
    public async Task Validate_InvalidFile_PrintsEveryErrorWithFileLineAndExits2()
    {
        var (code, output, error) = await RunInAsync("invalid.yaml", Invalid, "validate", "-c", "invalid.yaml");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal(InvalidErrors, Lines(error));
    }

    [Fact]
    public async Task Validate_ValidFile_PrintsOkAndExits0()
    {
        var (code, output, error) = await RunInAsync("meshgate.yaml", "listeners: [{ name: public, address: 127.0.0.1:0 }]\n", "validate", "--config", "meshgate.yaml");
        Assert.Equal(0, code);
        Assert.Equal(["ok"], Lines(output));
        Assert.Equal("", error);
    }

    [Fact]
    public async Task Validate_DefaultConfigPath_ReadsMeshgateYaml()
    {
        var (code, output, _) = await RunInAsync("meshgate.yaml", "listeners: [{ name: public, address: 127.0.0.1:0 }]\n", "validate");
        Assert.Equal(0, code);
        Assert.Equal(["ok"], Lines(output));
    }

    [Fact]
    public async Task Validate_NotYaml_Exits2WithLine()
    {
        var (code, _, error) = await RunInAsync("broken.yaml", "routes: [a, b\n", "validate", "-c", "broken.yaml");
        Assert.Equal(2, code);
        Assert.StartsWith("broken.yaml:2 not valid YAML:", error, StringComparison.Ordinal);
        Assert.EndsWith("1 error: the config was not applied", error.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_MissingFile_Exits2()
    {
        var (code, _, error) = await RunInAsync("other.yaml", "", "validate", "-c", "absent.yaml");
        Assert.Equal(2, code);
        Assert.StartsWith("absent.yaml cannot read the config file:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gateway_InvalidFile_PrintsTheSameErrorsAndExits2WithoutStarting()
    {
        var run = RunInAsync("invalid.yaml", Invalid, "gateway", "-c", "invalid.yaml");
        // Had it started, it would serve until SIGTERM; an invalid config must return at once.
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(run, finished);
        var (code, output, error) = await run;
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal(InvalidErrors, Lines(error));
    }

    [Fact]
    public async Task Schema_PrintsTheGeneratedSchema()
    {
        var (code, output, _) = await RunAsync("schema");
        Assert.Equal(0, code);
        Assert.Equal(global::Meshgate.Configuration.Schema.ConfigSchema.Generate(), output);
    }

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    /// <summary>
    /// Writes the file into a fresh directory and runs there with a relative path, so messages name the
    /// file as the operator typed it. The working directory is process-wide, so these tests do not run in parallel.
    /// </summary>
    private static async Task<(int Code, string Output, string Error)> RunInAsync(string fileName, string yaml, params string[] args)
    {
        var directory = TestKit.TempDirectory.Create();
        await File.WriteAllTextAsync(Path.Combine(directory, fileName), yaml);
        await WorkingDirectory.WaitAsync();
        var previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = directory;
            return await RunAsync(args);
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            WorkingDirectory.Release();
        }
    }

    private static readonly SemaphoreSlim WorkingDirectory = new(1, 1);

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
