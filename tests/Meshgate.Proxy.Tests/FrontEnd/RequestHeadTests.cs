using System.Text;
using Meshgate.Proxy.FrontEnd;

namespace Meshgate.Proxy.Tests.FrontEnd;

public sealed class RequestHeadTests
{
    private const string Get = "GET / HTTP/1.1\r\n";
    private const string HostLine = "Host: example.com\r\n";

    // Latin-1 so that "\u0080" in a test string is the byte 0x80.
    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static string Text(byte[] buffer, Range range) => Encoding.Latin1.GetString(buffer[range]);

    private static (HeadVerdict Verdict, RequestHead Head, byte[] Buffer) Parse(string text)
    {
        var buffer = Bytes(text);
        var head = new RequestHead();
        return (head.Parse(buffer), head, buffer);
    }

    private static List<(string Name, string Value)> Headers(RequestHead head, byte[] buffer)
    {
        var headers = new List<(string, string)>();
        for (var i = 0; i < head.HeaderCount; i++) headers.Add((Text(buffer, head.Name(i)), Text(buffer, head.Value(i))));
        return headers;
    }

    [Fact]
    public void Parse_SimpleGet_ReportsEveryRange()
    {
        const string text = "GET /api/v1/items HTTP/1.1\r\nAccept: application/json\r\nHost:  example.com:8080 \r\nX-Request-Id:\tabc 123\t\r\nX-Empty:\r\nUser-Agent: curl/8.0\r\n\r\n";
        var (verdict, head, buffer) = Parse(text);

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal(text.Length, head.Length);
        Assert.False(head.IsHead);
        Assert.Equal("GET", Text(buffer, head.Method));
        Assert.Equal("/api/v1/items", Text(buffer, head.Path));
        Assert.Equal(new Range(0, 0), head.Query);
        Assert.Equal("example.com:8080", Text(buffer, head.Host));
        Assert.Equal(
            [("Accept", "application/json"), ("X-Request-Id", "abc 123"), ("X-Empty", ""), ("User-Agent", "curl/8.0")],
            Headers(head, buffer));
    }

    [Fact]
    public void Parse_Head_IsHead()
    {
        var (verdict, head, buffer) = Parse("HEAD /index.html HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.True(head.IsHead);
        Assert.Equal("HEAD", Text(buffer, head.Method));
        Assert.Equal("/index.html", Text(buffer, head.Path));
        Assert.Equal("a", Text(buffer, head.Host));
        Assert.Equal(0, head.HeaderCount);
    }

    [Theory]
    [InlineData("/p?", "/p", "?")]
    [InlineData("/p?a", "/p", "?a")]
    [InlineData("/p?a=1&b=2", "/p", "?a=1&b=2")]
    [InlineData("/p?a=%2F%e9&b=/x?y", "/p", "?a=%2F%e9&b=/x?y")]
    [InlineData("/?q", "/", "?q")]
    [InlineData("/a/b.c/d-e_f~!$&'()*+,=:@/", "/a/b.c/d-e_f~!$&'()*+,=:@/", "")]
    [InlineData("/.well-known/x", "/.well-known/x", "")]
    public void Parse_Target_SplitsPathAndQuery(string target, string path, string query)
    {
        var (verdict, head, buffer) = Parse($"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal(path, Text(buffer, head.Path));
        Assert.Equal(query, Text(buffer, head.Query));
        if (query.Length == 0) Assert.Equal(new Range(0, 0), head.Query);
    }

    [Theory]
    [InlineData("")]
    [InlineData("GE")]
    [InlineData("GET /ab")]
    [InlineData("GET / HTTP/1.1")]
    [InlineData("GET / HTTP/1.1\r")]
    [InlineData("GET / HTTP/1.1\r\nHost: a")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r")]
    [InlineData("POST / HTTP/1.1")] // not a complete line yet
    public void Parse_PartialHead_Incomplete(string text)
    {
        var (verdict, head, _) = Parse(text);

        Assert.Equal(HeadVerdict.Incomplete, verdict);
        Assert.Equal(0, head.Length);
    }

    [Theory]
    // Request line.
    [InlineData("POST / HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("get / HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("OPTIONS * HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET / HTTP/1.0\r\n" + HostLine + "\r\n")]
    [InlineData("GET / HTTP/2.0\r\n" + HostLine + "\r\n")]
    [InlineData("GET / http/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET http://example.com/ HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET example.com:80 HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET  / HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /  HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET / HTTP/1.1 \r\n" + HostLine + "\r\n")]
    [InlineData("GET /\tHTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET / HTTP/1.1x\r\n" + HostLine + "\r\n")]
    [InlineData("GET /\r\n" + HostLine + "\r\n")]
    [InlineData("GET\r\n" + HostLine + "\r\n")]
    [InlineData("\r\nGET / HTTP/1.1\r\n" + HostLine + "\r\n")]
    // Path.
    [InlineData("GET /a%2e HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a;b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a\\b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a\"b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a#b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /caf\u00E9 HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET //a HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a//b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /./a HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a/. HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /../a HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a/.. HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a. HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /admin. HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a./b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /a.?x HTTP/1.1\r\n" + HostLine + "\r\n")]
    // Query.
    [InlineData("GET /?a=% HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a=%2 HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a=%zz HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a#b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a\\b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a\"b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a<b HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData("GET /?a\u0080 HTTP/1.1\r\n" + HostLine + "\r\n")]
    // Line endings.
    [InlineData("GET / HTTP/1.1\n" + HostLine + "\r\n")]
    [InlineData(Get + "Host: a\n\r\n")]
    [InlineData(Get + HostLine + "\n")]
    [InlineData(Get + "Host: a\rb\r\n\r\n")]
    [InlineData("GET /\r HTTP/1.1\r\n" + HostLine + "\r\n")]
    [InlineData(Get + HostLine + "X-A: 1\r\r\n\r\n")]
    [InlineData(Get + HostLine + "\r\r\n")]
    // Header lines.
    [InlineData(Get + HostLine + "X-A: 1\r\n folded\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: 1\r\n\tfolded\r\n\r\n")]
    [InlineData(Get + " " + HostLine + "\r\n")]
    [InlineData(Get + HostLine + "X-A : 1\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A\t: 1\r\n\r\n")]
    [InlineData(Get + HostLine + "X_A: 1\r\n\r\n")]
    [InlineData(Get + HostLine + ": 1\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A 1\r\n\r\n")]
    [InlineData(Get + HostLine + "X(A): 1\r\n\r\n")]
    [InlineData(Get + HostLine + "X-\u00E9: 1\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: caf\u0080\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: caf\u00E9\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: a\u007Fb\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: a\u0000b\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: a\u0001b\r\n\r\n")]
    [InlineData(Get + HostLine + "X-A: a\u000Bb\r\n\r\n")]
    // Host.
    [InlineData(Get + "\r\n")]
    [InlineData(Get + "X-A: 1\r\n\r\n")]
    [InlineData(Get + HostLine + HostLine + "\r\n")]
    [InlineData(Get + "Host: a\r\nhost: a\r\n\r\n")]
    [InlineData(Get + "Host:\r\n\r\n")]
    [InlineData(Get + "Host:   \r\n\r\n")]
    [InlineData(Get + "Host: a b\r\n\r\n")]
    [InlineData(Get + "Host: a/b\r\n\r\n")]
    [InlineData(Get + "Host: a@b\r\n\r\n")]
    [InlineData(Get + "Host: a%41\r\n\r\n")]
    [InlineData(Get + "Host: a:80x\r\n\r\n")]
    [InlineData(Get + "Host: a:\r\n\r\n")]
    [InlineData(Get + "Host: :80\r\n\r\n")]
    [InlineData(Get + "Host: a:b:80\r\n\r\n")]
    [InlineData(Get + "Host: [::1\r\n\r\n")]
    [InlineData(Get + "Host: []\r\n\r\n")]
    [InlineData(Get + "Host: [::1]x\r\n\r\n")]
    [InlineData(Get + "Host: [::1]:\r\n\r\n")]
    [InlineData(Get + "Host: [::g]\r\n\r\n")]
    [InlineData(Get + "Host: a]\r\n\r\n")]
    // Framing, upgrade and hop-by-hop headers, whatever the value and case.
    [InlineData(Get + HostLine + "Content-Length: 0\r\n\r\n")]
    [InlineData(Get + HostLine + "content-length: 0\r\n\r\n")]
    [InlineData(Get + HostLine + "Transfer-Encoding: chunked\r\n\r\n")]
    [InlineData(Get + HostLine + "TRANSFER-ENCODING: identity\r\n\r\n")]
    [InlineData(Get + HostLine + "Upgrade: websocket\r\n\r\n")]
    [InlineData(Get + HostLine + "Expect: 100-continue\r\n\r\n")]
    [InlineData(Get + HostLine + "TE: trailers\r\n\r\n")]
    [InlineData(Get + HostLine + "te: \r\n\r\n")]
    [InlineData(Get + HostLine + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")]
    [InlineData(Get + HostLine + "Proxy-Connection: keep-alive\r\n\r\n")]
    [InlineData(Get + HostLine + "Trailer: X-A\r\n\r\n")]
    // Connection.
    [InlineData(Get + HostLine + "Connection: Upgrade\r\n\r\n")]
    [InlineData(Get + HostLine + "Connection: keep-alive, X-Secret\r\n\r\n")]
    [InlineData(Get + HostLine + "Connection: keep-alive,\r\n\r\n")]
    [InlineData(Get + HostLine + "Connection:\r\n\r\n")]
    // Authorization.
    [InlineData(Get + HostLine + "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n")]
    [InlineData(Get + HostLine + "Authorization: Bearer a\r\nauthorization: Bearer a\r\n\r\n")]
    public void Parse_IneligibleHead_HandOff(string text)
    {
        var (verdict, head, _) = Parse(text);

        Assert.Equal(HeadVerdict.HandOff, verdict);
        Assert.Equal(0, head.Length);
    }

    [Theory]
    [InlineData("POST / HTTP/1.1\r\nHost: a")]
    [InlineData("GET / HTTP/1.0\r\n")]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 5\r\n")]
    [InlineData("GET / HTTP/1.1\nHost: a")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\n")]
    [InlineData("GET / HTTP/1.1\rHost: a")]
    public void Parse_PartialHeadAlreadyIneligible_HandOffWithoutWaiting(string text)
    {
        // A client that ends lines with LF or CR alone never sends CRLFCRLF: waiting for it would leave the client waiting too.
        var (verdict, _, _) = Parse(text);

        Assert.Equal(HeadVerdict.HandOff, verdict);
    }

    [Theory]
    [InlineData("Host: [::1]", "[::1]")]
    [InlineData("Host: [::1]:8443", "[::1]:8443")]
    [InlineData("Host: [2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]")]
    [InlineData("Host: 192.0.2.1:80", "192.0.2.1:80")]
    [InlineData("host: Example.COM", "Example.COM")]
    [InlineData("HOST:\ta-b_c~!$&'()*+,;=.d\t", "a-b_c~!$&'()*+,;=.d")]
    public void Parse_ValidHost_Eligible(string line, string host)
    {
        var (verdict, head, buffer) = Parse($"{Get}{line}\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal(host, Text(buffer, head.Host));
    }

    [Theory]
    [InlineData("keep-alive")]
    [InlineData("Keep-Alive")]
    [InlineData(" keep-alive ,\tKEEP-ALIVE ")]
    public void Parse_ConnectionKeepAlive_EligibleAndReported(string value)
    {
        var (verdict, head, buffer) = Parse($"{Get}{HostLine}Connection: {value}\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal([("Connection", value.Trim(' ', '\t'))], Headers(head, buffer));
        Assert.False(head.Close);
    }

    [Theory]
    [InlineData("Connection: close\r\n")]
    [InlineData("Connection: CLOSE\r\n")]
    [InlineData("Connection: keep-alive, close\r\n")]
    [InlineData("Connection: keep-alive\r\nConnection: close\r\n")]
    public void Parse_ConnectionClose_EligibleAndCloses(string lines)
    {
        var (verdict, head, _) = Parse($"{Get}{HostLine}{lines}\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.True(head.Close);
    }

    [Fact]
    public void Parse_OneAuthorization_Eligible()
    {
        var (verdict, head, buffer) = Parse($"{Get}{HostLine}Authorization: Bearer abc\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal([("Authorization", "Bearer abc")], Headers(head, buffer));
    }

    [Fact]
    public void Parse_TokenCharactersInName_Eligible()
    {
        var (verdict, head, buffer) = Parse($"{Get}{HostLine}x-!#$%&'*+.^`|~09: v\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal([("x-!#$%&'*+.^`|~09", "v")], Headers(head, buffer));
    }

    [Theory]
    [InlineData(RequestHead.MaxHeaders, true)]
    [InlineData(RequestHead.MaxHeaders + 1, false)]
    public void Parse_HeaderLineCount_HandOffAboveMax(int lines, bool eligible)
    {
        // Host counts as one of the lines.
        var text = new StringBuilder(Get).Append(HostLine);
        for (var i = 1; i < lines; i++) text.Append($"X-H{i}: {i}\r\n");
        var (verdict, head, buffer) = Parse(text.Append("\r\n").ToString());

        Assert.Equal(eligible ? HeadVerdict.Eligible : HeadVerdict.HandOff, verdict);
        if (eligible)
        {
            Assert.Equal(lines - 1, head.HeaderCount);
            Assert.Equal("X-H63", Text(buffer, head.Name(head.HeaderCount - 1)));
            Assert.Equal("63", Text(buffer, head.Value(head.HeaderCount - 1)));
        }
    }

    /// <summary>A complete head of exactly <paramref name="length"/> bytes (its padding in one header value).</summary>
    private static string HeadOfLength(int length)
    {
        const string start = Get + HostLine + "X-Pad: ";
        const string end = "\r\n\r\n";
        return start + new string('p', length - start.Length - end.Length) + end;
    }

    [Fact]
    public void Parse_HeadOfMaxHeadBytes_Eligible()
    {
        var (verdict, head, _) = Parse(HeadOfLength(RequestHead.MaxHeadBytes));

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal(RequestHead.MaxHeadBytes, head.Length);
    }

    [Fact]
    public void Parse_CompleteHeadOverMaxHeadBytes_HandOff()
    {
        var (verdict, _, _) = Parse(HeadOfLength(RequestHead.MaxHeadBytes + 1));

        Assert.Equal(HeadVerdict.HandOff, verdict);
    }

    [Theory]
    [InlineData(RequestHead.MaxHeadBytes - 1, false)]
    [InlineData(RequestHead.MaxHeadBytes, true)]
    [InlineData(RequestHead.MaxHeadBytes * 2, true)]
    public void Parse_UnendedHead_HandOffFromMaxHeadBytes(int length, bool handOff)
    {
        var text = HeadOfLength(length + 4)[..length]; // the same head without its last CRLFCRLF

        var (verdict, _, _) = Parse(text);

        Assert.Equal(handOff ? HeadVerdict.HandOff : HeadVerdict.Incomplete, verdict);
    }

    [Fact]
    public void Parse_ReusedInstance_ReportsSecondHead()
    {
        var head = new RequestHead();
        var first = Bytes("HEAD /first/path?x=1 HTTP/1.1\r\nHost: first.example\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        var second = Bytes("GET /2 HTTP/1.1\r\nX-Only: yes\r\nHost: b\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, head.Parse(first));
        Assert.Equal(HeadVerdict.Eligible, head.Parse(second));

        Assert.Equal(second.Length, head.Length);
        Assert.False(head.IsHead);
        Assert.Equal("GET", Text(second, head.Method));
        Assert.Equal("/2", Text(second, head.Path));
        Assert.Equal(new Range(0, 0), head.Query);
        Assert.Equal("b", Text(second, head.Host));
        Assert.Equal([("X-Only", "yes")], Headers(head, second));
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Name(1));
    }

    [Fact]
    public void Parse_HandOffAfterEligible_ClearsPreviousHead()
    {
        var head = new RequestHead();
        Assert.Equal(HeadVerdict.Eligible, head.Parse(Bytes($"{Get}{HostLine}A: 1\r\n\r\n")));

        Assert.Equal(HeadVerdict.HandOff, head.Parse(Bytes($"POST / HTTP/1.1\r\n{HostLine}A: 1\r\n\r\n")));

        Assert.Equal(0, head.Length);
        Assert.Equal(0, head.HeaderCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Value(0));
    }

    [Fact]
    public void Parse_PipelinedRequests_LengthOfFirstOnly()
    {
        const string first = "GET /1 HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n";
        var (verdict, head, buffer) = Parse(first + "GET /2 HTTP/1.1\r\nHost: a\r\nB: 2\r\n\r\n");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal(first.Length, head.Length);
        Assert.Equal("/1", Text(buffer, head.Path));
        Assert.Equal([("A", "1")], Headers(head, buffer));
    }

    [Fact]
    public void Parse_HeadFollowedByUnendedBytes_LengthOfHead()
    {
        // What follows a head is not the parser's business, even when it would be handed off on its own.
        const string first = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        var (verdict, head, _) = Parse(first + "POST /x HTTP/1.0\n\u0080");

        Assert.Equal(HeadVerdict.Eligible, verdict);
        Assert.Equal(first.Length, head.Length);
    }

    [Fact]
    public void Name_IndexOutOfRange_Throws()
    {
        var (_, head, _) = Parse($"{Get}{HostLine}A: 1\r\n\r\n");

        Assert.Throws<ArgumentOutOfRangeException>(() => head.Name(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Name(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Value(1));
    }
}
