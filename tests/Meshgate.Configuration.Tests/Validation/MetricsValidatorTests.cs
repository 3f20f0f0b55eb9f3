namespace Meshgate.Configuration.Tests.Validation;

public sealed class MetricsValidatorTests
{
    // Line 1 holds the listener, line 2 "metrics:"; the keys under test start on line 3.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nmetrics:\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { Head + "  cardinalityLimit: 0\n", 3, "metrics.cardinalityLimit", "must be between 1 and 100000 (the most series a metric keeps), found 0" },
        { Head + "  cardinalityLimit: -5\n", 3, "metrics.cardinalityLimit", "found -5" },
        { Head + "  cardinalityLimit: 100001\n", 3, "metrics.cardinalityLimit", "must be between 1 and 100000" },
        { Head + "  cardinalityLimit: lots\n", 3, "metrics.cardinalityLimit", "a whole number" },
        { Head + "  cardinalityLimt: 500\n", 3, "metrics.cardinalityLimt", "unknown key 'cardinalityLimt' (did you mean 'cardinalityLimit'?)" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidMetrics_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_NoMetricsSection_IsOnWithTheDefaultLimit()
    {
        var metrics = ConfigText.Snapshot("listeners: [{ name: public, address: 127.0.0.1:8080 }]\n").Definition.Metrics;

        Assert.True(metrics.Enabled);
        Assert.Equal(500, metrics.CardinalityLimit);
    }

    [Fact]
    public void Compile_CardinalityLimit_IsKept() =>
        Assert.Equal(40, ConfigText.Snapshot(Head + "  cardinalityLimit: 40\n").Definition.Metrics.CardinalityLimit);
}
