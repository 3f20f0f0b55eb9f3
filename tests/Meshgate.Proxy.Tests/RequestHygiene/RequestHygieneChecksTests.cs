using Meshgate.Proxy.RequestHygiene;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Tests.RequestHygiene;

public sealed class RequestHygieneChecksTests
{
    [Theory]
    [InlineData("X-Request-Id", true)]
    [InlineData("x-!#$%&'*+.^_`|~09", true)]
    [InlineData("", false)]
    [InlineData("X A", false)]
    [InlineData("X(A)", false)]
    [InlineData("X@A", false)]
    [InlineData("X/A", false)]
    [InlineData("X\"A", false)]
    [InlineData("X:A", false)]
    [InlineData("X\u00E9", false)]
    [InlineData("X\0A", false)]
    public void IsToken_HeaderNames(string name, bool valid) =>
        Assert.Equal(valid, RequestHygieneChecks.IsToken(name));

    [Theory]
    [InlineData("X_Forwarded_For", true)]
    [InlineData("X-Forwarded-For", false)]
    public void HasUnderscore_HeaderNames(string name, bool underscore) =>
        Assert.Equal(underscore, RequestHygieneChecks.HasUnderscore(name));

    [Theory]
    [InlineData("plain value", false)]
    [InlineData("tab\tinside", false)] // HTAB is allowed in field values
    [InlineData("caf\u00E9", false)] // obs-text is not a CTL
    [InlineData("a\u0001b", true)]
    [InlineData("a\u007Fb", true)]
    [InlineData("a\0b", true)]
    [InlineData("a\rb", true)]
    public void HasControlCharacter_HeaderValues(string value, bool control) =>
        Assert.Equal(control, RequestHygieneChecks.HasControlCharacter(new StringValues(value)));

    [Fact]
    public void HasControlCharacter_SecondFieldLine_Found() =>
        Assert.True(RequestHygieneChecks.HasControlCharacter(new StringValues(["ok", "a\u0001b"])));

    [Theory]
    [InlineData("/a/b?c=d", false)]
    [InlineData("http://a.example/x", false)]
    [InlineData("/a%01b", false)] // percent-encoded: the upstream sees the same bytes
    [InlineData("/a\u0001b", true)]
    [InlineData("/a\u007Fb", true)]
    [InlineData("/a b", true)]
    [InlineData("/a\tb", true)]
    public void HasControlCharacterOrSpace_Targets(string target, bool control) =>
        Assert.Equal(control, RequestHygieneChecks.HasControlCharacterOrSpace(target));
}
