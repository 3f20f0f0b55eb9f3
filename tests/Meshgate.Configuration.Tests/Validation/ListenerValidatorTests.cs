namespace Meshgate.Configuration.Tests.Validation;

public sealed class ListenerValidatorTests
{
    public static TheoryData<string> ValidAddresses => new() { "0.0.0.0:8080", "127.0.0.1:0", "[::]:8443", "[::1]:80", "localhost:8080", "LOCALHOST:8080", "*:80", "192.168.1.7:65535" };

    [Theory]
    [MemberData(nameof(ValidAddresses))]
    public void Validate_ListenerAddressForm_IsAccepted(string address)
    {
        Assert.Empty(ConfigText.Errors($"listeners: [{{ name: public, address: '{address}' }}]\n"));
    }

    [Fact]
    public void Validate_PlaintextListenerWithBothProtocols_IsAcceptedAsHttp1AndH2c()
    {
        var snapshot = ConfigText.Snapshot("listeners: [{ name: local, address: 127.0.0.1:0, protocols: [http1, http2] }]\n");

        Assert.Equal(Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2, snapshot.Listeners.Single().Protocols);
    }

    [Theory]
    [InlineData("8080")]
    [InlineData(":8080")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("127.0.0.1:http")]
    [InlineData("example.com:80")]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("256.0.0.1:80")]
    [InlineData("")]
    public void Validate_ListenerAddressNotHostPort_ReportsIt(string address) =>
        ConfigText.AssertSingleError($"listeners:\n  - name: public\n    address: '{address}'\n", 3, "listeners[0].address", $"'{address}' is not host:port (e.g. 0.0.0.0:8080");

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        { "listeners: []\n", 1, "listeners", "at least one listener is required" },
        { "routes: []\n", null, "listeners", "at least one listener is required" },
        { "listeners:\n  - { name: public, address: 127.0.0.1:8080 }\n  - { name: Public, address: 127.0.0.1:8081 }\n", 3, "listeners[1]", "duplicate id 'Public' (also listeners[0])" },
        { "listeners:\n  - { name: a, address: 127.0.0.1:8080 }\n  - { name: b, address: 127.0.0.1:8080 }\n", 3, "listeners[1].address", "'127.0.0.1:8080' is already used by listeners[0]" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:8080\n    protocols: []\n", 4, "listeners[0].protocols", "must list at least one of http1, http2" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:8080\n    limits:\n      maxRequestHeadersSize: 512\n", 5, "listeners[0].limits.maxRequestHeadersSize", "512 is too small to hold a request line; use at least 1KiB" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:8080\n    limits:\n      maxConcurrentConnections: 0\n", 5, "listeners[0].limits.maxConcurrentConnections", "must be at least 1" },

        // TLS.
        { "listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls: {}\n", 4, "listeners[0].tls", "needs cert and key (PEM files) or pfx" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls: { cert: a.pem, key: a.key, pfx: a.pfx }\n", 4, "listeners[0].tls", "give either cert and key (PEM) or pfx, not both" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls:\n      pfx: certs/gateway.pfx\n", 5, "listeners[0].tls.pfx", "file 'certs/gateway.pfx' does not exist (looked for " },

        // Admin.
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin:\n  address: 9901\n", 3, "admin.address", "'9901' is not host:port (e.g. 127.0.0.1:9901)" },
        { "listeners: [{ name: a, address: 127.0.0.1:9901 }]\nadmin: { address: 127.0.0.1:9901 }\n", 2, "admin.address", "'127.0.0.1:9901' is already used by listeners[0]; the admin API needs its own listener" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin:\n  token: short\n", 3, "admin.token", "is shorter than 16 characters" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin:\n  token: 0123456789abcdef0123\n  tokenEnv: PATH\n", 2, "admin", "give at most one of token, tokenEnv, tokenFile" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin:\n  tokenEnv: MESHGATE_TEST_UNSET_ADMIN_TOKEN\n", 3, "admin.tokenEnv", "environment variable 'MESHGATE_TEST_UNSET_ADMIN_TOKEN' is not set or empty" },
        { "listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin:\n  tokenFile: secrets/admin-token\n", 3, "admin.tokenFile", "file 'secrets/admin-token' does not exist" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidListenerOrAdmin_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_PfxPasswordEnvUnset_ReportsIt()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "gateway.pfx"), "");
        ConfigText.AssertSingleError(
            "listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls:\n      pfx: gateway.pfx\n      pfxPasswordEnv: MESHGATE_TEST_UNSET_PFX_PASSWORD\n",
            6, "listeners[0].tls.pfxPasswordEnv", "environment variable 'MESHGATE_TEST_UNSET_PFX_PASSWORD' is not set", directory);
    }

    [Theory]
    [InlineData("clientCertificates: require", "required with clientCertificates: require")]
    [InlineData("clientCertificates: allow", "required with clientCertificates: allow")]
    [InlineData("clientCa: ca.pem", "has no effect without clientCertificates: allow or require")]
    public void Validate_ClientCertificateSettingsInconsistent_ReportsClientCa(string setting, string message)
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "gateway.pfx"), "");
        File.WriteAllText(Path.Combine(directory, "ca.pem"), "");
        ConfigText.AssertSingleError(
            $"listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls: {{ pfx: gateway.pfx, {setting} }}\n",
            4, "listeners[0].tls.clientCa", message, directory);
    }

    [Fact]
    public void Validate_ClientCaNotPem_ReportsIt()
    {
        var directory = TestKit.TempDirectory.Create();
        using var certificates = new TestKit.TestCertificates(directory);
        var (certificate, certPath, keyPath) = certificates.Issue("gateway");
        certificate.Dispose();
        File.WriteAllText(Path.Combine(directory, "ca.pem"), "not a certificate");
        var error = Assert.Single(ConfigText.Errors($"listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls: {{ cert: {Path.GetFileName(certPath)}, key: {Path.GetFileName(keyPath)}, clientCertificates: require, clientCa: ca.pem }}\n", directory));
        Assert.Equal("listeners[0].tls.clientCa", error.Path);
        Assert.Contains("holds no PEM certificates", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_TlsCertAndKeyMissing_ReportsBothFiles()
    {
        var errors = ConfigText.Errors("listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls:\n      cert: gw.pem\n      key: gw.key\n");
        Assert.Equal(["meshgate.yaml:5 listeners[0].tls.cert", "meshgate.yaml:6 listeners[0].tls.key"], errors.Select(e => e.ToString().Split(':')[0] + ":" + e.ToString().Split(':')[1]));
        Assert.All(errors, e => Assert.Contains("does not exist", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_TlsCertWithoutKey_ReportsKeyRequired()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "gw.pem"), "");
        var error = Assert.Single(ConfigText.Errors("listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls:\n      cert: gw.pem\n", directory));
        Assert.Equal("meshgate.yaml:4 listeners[0].tls.key: required with cert", error.ToString());
    }

    [Fact]
    public void Validate_TlsFileNotACertificate_ReportsLoadFailure()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "gw.pem"), "garbage");
        File.WriteAllText(Path.Combine(directory, "gw.key"), "garbage");
        var error = Assert.Single(ConfigText.Errors("listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls: { cert: gw.pem, key: gw.key }\n", directory));
        Assert.Equal("listeners[0].tls", error.Path);
        Assert.Equal(4, error.Line);
        Assert.Contains("cannot load the certificate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_TlsPemFilesPresent_CompilesWithBothProtocols()
    {
        var directory = TestKit.TempDirectory.Create();
        using var certificates = new TestKit.TestCertificates(directory);
        var (certificate, certPath, keyPath) = certificates.Issue("gateway");
        certificate.Dispose();
        var snapshot = ConfigText.Snapshot($"listeners:\n  - name: a\n    address: 127.0.0.1:8443\n    tls: {{ cert: {Path.GetFileName(certPath)}, key: {Path.GetFileName(keyPath)} }}\n", directory);
        Assert.NotNull(snapshot.Listeners[0].Certificate);
        Assert.Equal(Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2, snapshot.Listeners[0].Protocols);
    }

    [Fact]
    public void Validate_TokenFileWithShortToken_ReportsIt()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "admin-token"), "  short \n");
        var error = Assert.Single(ConfigText.Errors("listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin:\n  tokenFile: admin-token\n", directory));
        Assert.Equal("meshgate.yaml:3 admin.tokenFile: the token in the file is shorter than 16 characters", error.ToString());
    }

    [Fact]
    public void Validate_TokenEnvWithShortToken_ReportsIt()
    {
        const string variable = "MESHGATE_TEST_SHORT_ADMIN_TOKEN";
        Environment.SetEnvironmentVariable(variable, "short");
        try
        {
            var error = Assert.Single(ConfigText.Errors($"listeners: [{{ name: a, address: 127.0.0.1:8080 }}]\nadmin:\n  tokenEnv: {variable}\n"));
            Assert.Equal($"meshgate.yaml:3 admin.tokenEnv: the token in '{variable}' is shorter than 16 characters", error.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void Validate_TokenSources_LoadTrimmedToken()
    {
        var directory = TestKit.TempDirectory.Create();
        File.WriteAllText(Path.Combine(directory, "admin-token"), "0123456789abcdef-from-file\n");
        var fromFile = ConfigText.Snapshot("listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin: { tokenFile: admin-token }\n", directory);
        Assert.Equal("0123456789abcdef-from-file", fromFile.Admin.Token);

        var inline = ConfigText.Snapshot("listeners: [{ name: a, address: 127.0.0.1:8080 }]\nadmin: { address: '[::1]:9000', token: 0123456789abcdef }\n");
        Assert.Equal("0123456789abcdef", inline.Admin.Token);
    }
}
