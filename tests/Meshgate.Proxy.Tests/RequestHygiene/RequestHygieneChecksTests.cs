using Meshgate.Proxy.RequestHygiene;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Tests.RequestHygiene;

public sealed class RequestHygieneChecksTests
{
    [Theory]
    [InlineData("0", true)]
    [InlineData("5", true)]
    [InlineData(" 12 ", true)] // OWS around the field value is not part of it (RFC 9110 5.5)
    [InlineData("", false)]
    [InlineData("+5", false)]
    [InlineData("-5", false)]
    [InlineData("0x5", false)]
    [InlineData("5a", false)]
    [InlineData("5 5", false)]
    [InlineData("5, 5", false)] // identical duplicates as a list: refused, by policy
    [InlineData("5,6", false)]
    public void IsValidContentLength_OneValue(string value, bool valid) =>
        Assert.Equal(valid, RequestHygieneChecks.IsValidContentLength(new StringValues(value)));

    [Fact]
    public void IsValidContentLength_TwoFieldLines_Refused() =>
        Assert.False(RequestHygieneChecks.IsValidContentLength(new StringValues(["5", "5"])));

    [Theory]
    [InlineData("chunked", true)]
    [InlineData("Chunked", true)] // coding names are case-insensitive (RFC 9112 7)
    [InlineData(" \tchunked\t ", true)]
    [InlineData("gzip, chunked", true)] // RFC 9112 6.1: other codings may precede the final chunked
    [InlineData("gzip,chunked", true)]
    [InlineData("gzip", false)]
    [InlineData("chunked, gzip", false)]
    [InlineData("chunked, chunked", false)] // RFC 9112 7.1: chunked at most once
    [InlineData("xchunked", false)]
    [InlineData("chunked-x", false)]
    [InlineData("\vchunked", false)] // VT is not OWS
    [InlineData(", chunked", false)] // empty list element
    [InlineData("chunked,", false)]
    [InlineData("", false)]
    [InlineData("gzip;q=1, chunked", false)] // not a token
    public void IsValidTransferEncoding_OneFieldLine(string value, bool valid) =>
        Assert.Equal(valid, RequestHygieneChecks.IsValidTransferEncoding(new StringValues(value)));

    [Fact]
    public void IsValidTransferEncoding_TwoFieldLines_Refused() =>
        Assert.False(RequestHygieneChecks.IsValidTransferEncoding(new StringValues(["gzip", "chunked"])));

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
