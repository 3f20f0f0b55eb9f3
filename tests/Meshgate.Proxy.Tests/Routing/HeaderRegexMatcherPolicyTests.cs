using System.Diagnostics;
using System.Text.RegularExpressions;
using Meshgate.Configuration;
using Meshgate.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.Routing;

public sealed class HeaderRegexMatcherPolicyTests
{
    private static HeaderRegexMetadata Rule(string name, string pattern) =>
        new([new HeaderRegex(name, new Regex(pattern, RegexOptions.None, TimeSpan.FromMilliseconds(50)))]);

    [Theory]
    [InlineData("green", true)]
    [InlineData("greeen", true)]
    [InlineData("grn", false)]
    [InlineData(null, false)]
    public void Matches_Value(string? value, bool expected)
    {
        var headers = new HeaderDictionary();
        if (value is not null) headers["x-tenant"] = value;
        Assert.Equal(expected, HeaderRegexMatcherPolicy.Matches(Rule("x-tenant", "^gre+n$"), headers));
    }

    [Fact]
    public void Matches_AnyOfSeveralValues()
    {
        var headers = new HeaderDictionary { ["x-tenant"] = new(["red", "green"]) };
        Assert.True(HeaderRegexMatcherPolicy.Matches(Rule("x-tenant", "^green$"), headers));
    }

    [Fact]
    public void Matches_CatastrophicBacktracking_TimesOutAsNoMatch()
    {
        // A hostile header against a backtracking pattern must not stall the request thread.
        var headers = new HeaderDictionary { ["x-evil"] = new string('a', 5000) + "!" };
        var clock = Stopwatch.StartNew();
        Assert.False(HeaderRegexMatcherPolicy.Matches(Rule("x-evil", "^(a+)+$"), headers));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }
}
