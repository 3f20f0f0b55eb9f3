using System.Text;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.RequestHygiene;

/// <summary>
/// A front proxy must refuse any request whose end it and the upstream could disagree on (request
/// smuggling, RFC 9112 section 11.2), and any header it cannot vouch for. Each case goes over a raw
/// socket to the real gateway in front of an upstream that counts connections and requests; the
/// answer must be 400, the connection must be closed after it, and the upstream must see nothing.
/// </summary>
public sealed class RequestHygieneTests : IAsyncLifetime
{
    private const string Chunked = "5\r\nhello\r\n0\r\n\r\n";

    private RecordingUpstream _upstream = null!;
    private TestGateway _gateway = null!;

    /// <summary>Requests by case name; "{host}" becomes the gateway's authority. Line ends are exactly as written.</summary>
    private static readonly Dictionary<string, string> Requests = new()
    {
        // RFC 9110 8.6 / RFC 9112 6.3 item 5: differing Content-Length field lines are unrecoverable framing errors.
        ["cl-two-different"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        // RFC 9110 8.6: a list of differing values in one field line.
        ["cl-list-different"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5, 6\r\n\r\nhello!",
        // RFC 9110 8.6 lets a recipient either reject identical duplicates or collapse them; Meshgate rejects (nginx does too): no legitimate client sends them.
        ["cl-two-identical"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        // RFC 9110 8.6: the same, as a list in one field line.
        ["cl-list-identical"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5, 5\r\n\r\nhello",
        // RFC 9110 8.6: no negative lengths.
        ["cl-minus-sign"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: -5\r\n\r\nhello",
        // RFC 9110 8.6: digits only, no hex.
        ["cl-hex"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0x5\r\n\r\nhello",
        // RFC 9110 8.6: digits only, no trailing garbage.
        ["cl-trailing-letters"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5abc\r\n\r\nhello",
        // RFC 9110 8.6: digits only, no inner whitespace.
        ["cl-inner-space"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5 0\r\n\r\nhello",
        // RFC 9110 8.6: an empty value is not 1*DIGIT.
        ["cl-empty"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: \r\n\r\nhello",
        // RFC 9112 6.1: "A server MAY reject a request that contains both Content-Length and Transfer-Encoding"; a proxy must,
        // or the upstream may frame by the other one. Kestrel drops Content-Length: the connection filter refuses.
        ["cl-and-te"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked,
        // RFC 9112 6.1: TE and CL together, TE first.
        ["te-and-cl"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" + Chunked,
        // RFC 9110 8.6: Content-Length = 1*DIGIT; no sign. Kestrel reads "+5" as 5: the connection filter refuses.
        ["cl-plus-sign"] = "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: +5\r\n\r\nhello",
        // Policy (nginx): the only transfer coding accepted is one "chunked". Kestrel accepts this one.
        ["te-gzip-chunked"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + Chunked,
        // RFC 9112 7.1.1: chunk-ext-name is a token; Kestrel skips extensions unread, the connection filter parses them.
        ["chunk-ext-no-name"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1.1: "=" needs a name before it.
        ["chunk-ext-value-without-name"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1.1: a space inside an extension that is not BWS around ";" or "=".
        ["chunk-ext-space"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;a b\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1.1: a control character in an extension.
        ["chunk-ext-control"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;\u0001bad\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1.1: a quoted chunk-ext-val must be closed.
        ["chunk-ext-open-quote"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1.1: on the last chunk too.
        ["last-chunk-ext-control"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0;\u0001\r\n\r\n",
        // RFC 9112 6.3 item 4: a request whose final coding is not chunked cannot be framed: 400 and close.
        ["te-gzip"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip\r\n\r\nhello",
        // RFC 9112 6.3 item 4: chunked must be the final coding.
        ["te-chunked-then-gzip"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + Chunked,
        // RFC 9112 7: a coding name that merely contains "chunked" is not chunked.
        ["te-xchunked"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: xchunked\r\n\r\n" + Chunked,
        // RFC 9112 7: "chunked" plus trailing garbage is another coding name.
        ["te-chunked-garbage"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked-false\r\n\r\n" + Chunked,
        // RFC 9110 5.6.3: OWS is SP / HTAB only; a vertical tab before chunked makes another token.
        ["te-vtab-chunked"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: \vchunked\r\n\r\n" + Chunked,
        // RFC 9112 7.1: chunked is applied at most once.
        ["te-chunked-twice"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" + Chunked,
        // RFC 9112 6.1 + 7.1: duplicated Transfer-Encoding field lines (chunked twice), which intermediaries combine differently.
        ["te-duplicate-lines"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked,
        // RFC 9112 6.1: Transfer-Encoding split over two field lines; Meshgate refuses any repeated framing header.
        ["te-split-lines"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked,
        // RFC 9112 7.1: chunk-size = 1*HEXDIG.
        ["chunk-size-not-hex"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1: no sign on a chunk size.
        ["chunk-size-negative"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1: no 0x prefix on a chunk size.
        ["chunk-size-0x"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1: a size that overflows 64 bits (parsers that wrap disagree on it).
        ["chunk-size-overflow"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1: chunk-data is exactly chunk-size octets, then CRLF.
        ["chunk-data-too-long"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
        // RFC 9112 7.1.1: a bare LF inside a chunk extension is not a line end (the CVE-2025-55315 shape).
        ["chunk-ext-bare-lf"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
        // RFC 9112 7.1: the chunk size line ends with CRLF; a bare LF there is the classic desync.
        ["chunk-size-bare-lf"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        // RFC 9112 2.2: Meshgate does not take up the MAY to accept a bare LF as a line end: not in the request line,
        ["bare-lf-request-line"] = "GET / HTTP/1.1\nHost: {host}\r\n\r\n",
        // RFC 9112 2.2: ... nor after a header field line,
        ["bare-lf-header"] = "GET / HTTP/1.1\r\nHost: {host}\nX-A: b\r\n\r\n",
        // RFC 9112 2.2: ... nor at the end of the head.
        ["bare-lf-head-end"] = "GET / HTTP/1.1\r\nHost: {host}\r\n\n",
        // RFC 9112 5.2: a server that does not unfold obs-fold must reject the request with 400.
        ["obs-fold"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\r\n b\r\n\r\n",
        // RFC 9112 5.2: obs-fold with a tab.
        ["obs-fold-tab"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\r\n\tb\r\n\r\n",
        // RFC 9112 3.2: request-target has no NUL.
        ["nul-request-line"] = "GET /a\0b HTTP/1.1\r\nHost: {host}\r\n\r\n",
        // RFC 9112 3: a control character in the request line.
        ["ctl-request-line"] = "GET /a\u0001b HTTP/1.1\r\nHost: {host}\r\n\r\n",
        // RFC 9110 5.5: "a recipient ... MUST either reject the message or replace [NUL] with SP".
        ["nul-header-value"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\0b\r\n\r\n",
        // RFC 9110 5.5: field-vchar excludes CTLs other than HTAB.
        ["ctl-header-value"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\u0001b\r\n\r\n",
        // RFC 9110 5.5: DEL is a CTL.
        ["del-header-value"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\u007Fb\r\n\r\n",
        // RFC 9110 5.5: "a recipient ... MUST either reject the message or replace [bare CR] with SP".
        ["cr-header-value"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A: a\rb\r\n\r\n",
        // RFC 9110 5.1: field-name = token; NUL is not a tchar.
        ["nul-header-name"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-\0A: b\r\n\r\n",
        // RFC 9112 5.1: "No whitespace is allowed between the field name and colon"; a server MUST reject with 400.
        ["space-before-colon"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A : b\r\n\r\n",
        // RFC 9112 5.1: the same, on a framing header.
        ["space-before-colon-te"] = "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello",
        // RFC 9112 5.1: a tab before the colon.
        ["tab-before-colon"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-A\t: b\r\n\r\n",
        // RFC 9110 5.1: field-name = token; "(" and ")" are delimiters.
        ["name-parens"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX(A): b\r\n\r\n",
        // RFC 9110 5.1: "@" is not a tchar.
        ["name-at"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX@A: b\r\n\r\n",
        // RFC 9110 5.1: "/" is not a tchar.
        ["name-slash"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX/A: b\r\n\r\n",
        // RFC 9110 5.1: a double quote is not a tchar.
        ["name-quote"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX\"A: b\r\n\r\n",
        // RFC 9110 5.1: a field name is at least one tchar.
        ["name-empty"] = "GET / HTTP/1.1\r\nHost: {host}\r\n: b\r\n\r\n",
        // RFC 9110 5.1: non-ASCII is not a tchar.
        ["name-non-ascii"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX-\u00E9: b\r\n\r\n",
        // RFC 9112 3.2: "A server MUST respond with 400 to any HTTP/1.1 request message that lacks a Host header field".
        ["host-missing"] = "GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
        // RFC 9112 3.2: ... "or that contains more than one Host header field line".
        ["host-duplicate-same"] = "GET / HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n\r\n",
        // RFC 9112 3.2: two different Host lines.
        ["host-duplicate-different"] = "GET / HTTP/1.1\r\nHost: {host}\r\nHost: other.example\r\n\r\n",
        // RFC 9112 3.2: Host is a single uri-host[:port], never a list.
        ["host-list"] = "GET / HTTP/1.1\r\nHost: {host}, other.example\r\n\r\n",
        // RFC 9112 3.2.2: the absolute-form authority wins over Host; a proxy that routed by Host would disagree with the upstream: refuse the mismatch.
        ["absolute-form-host-mismatch"] = "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
        // Policy (Envoy's headers_with_underscores_action: REJECT_REQUEST): X_Forwarded_For becomes X-Forwarded-For in CGI-style upstreams, past the gateway's own checks on the hyphenated name.
        ["underscore-name"] = "GET / HTTP/1.1\r\nHost: {host}\r\nX_Forwarded_For: 10.0.0.1\r\n\r\n",
        // Policy: two Authorization lines; gateway and upstream may each pick a different credential.
        ["authorization-duplicate"] = "GET / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
    };

    public static TheoryData<string> Cases => new(Requests.Keys);

    public async Task InitializeAsync()
    {
        _upstream = await RecordingUpstream.StartAsync();
        _gateway = await TestGateway.StartAsync($$"""
            routes:
              - { id: all, match: { path: "/{**rest}" }, cluster: recording }
            clusters:
              - { id: recording, endpoints: ["{{_upstream.Endpoint}}"] }
            """);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Request_Malformed_400AndClosedAndNeverForwarded(string name)
    {
        var (connections, requests) = (_upstream.Connections, _upstream.Requests);

        var exchange = await RawHttp.ExchangeAsync(_gateway.Url, Encoding.Latin1.GetBytes(Requests[name].Replace("{host}", _gateway.Url.Authority, StringComparison.Ordinal)));

        Assert.True(exchange.Response is not null, $"{name}: no response; received:\n{exchange.Raw}");
        Assert.True(exchange.Response.Status == 400, $"{name}: expected 400, got:\n{exchange.Raw}");
        Assert.True(exchange.Closed != RawClose.StillOpen, $"{name}: the connection stayed open after:\n{exchange.Raw}");
        Assert.Equal(requests, _upstream.Requests);
        Assert.Equal(connections, _upstream.Connections);
    }

    [Theory]
    // RFC 9112 7.1: a well-formed chunked body, with a chunk extension and a trailer.
    [InlineData("POST /ok HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;name=\"v\"\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n", "received 5")]
    // RFC 9110 5.6.3: OWS around the coding is allowed, and coding names are case-insensitive.
    [InlineData("POST /ok HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding:  Chunked \r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "received 5")]
    // RFC 9110 8.6: a plain Content-Length.
    [InlineData("POST /ok HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "received 5")]
    // RFC 9112 3.2.2: absolute-form whose authority matches Host.
    [InlineData("GET http://{host}/ok HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", "received 0")]
    // RFC 9110 5.1: every tchar is allowed in a name (underscore aside, by policy).
    [InlineData("GET /ok HTTP/1.1\r\nHost: {host}\r\nX-!#$%&'*+.^`|~09az: v\r\nX-Tab: a\tb\r\nConnection: close\r\n\r\n", "received 0")]
    public async Task Request_WellFormed_Forwarded(string request, string body)
    {
        var requests = _upstream.Requests;

        var exchange = await RawHttp.ExchangeAsync(_gateway.Url, Encoding.Latin1.GetBytes(request.Replace("{host}", _gateway.Url.Authority, StringComparison.Ordinal)));

        Assert.True(exchange.Response?.Status == 200, $"expected 200, got:\n{exchange.Raw}");
        Assert.Contains(body, exchange.Response.Body, StringComparison.Ordinal);
        Assert.Equal(requests + 1, _upstream.Requests);
    }
}
