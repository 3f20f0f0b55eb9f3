namespace Meshgate.Configuration.Tests.Commands;

public sealed class HashKeyCommandTests
{
    [Fact]
    public async Task HashKey_WithKeyOption_PrintsLowercaseSha256Hex()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Cli.RunAsync(["hash-key", "--key", "secret-key"], output, error);
        Assert.Equal(0, code);
        Assert.Equal("85dbe15d75ef9308c7ae0f33c7a324cc6f4bf519a2ed2f3027bd33c140a4f9aa", output.ToString().Trim());
        Assert.Equal("", error.ToString());
    }
}
