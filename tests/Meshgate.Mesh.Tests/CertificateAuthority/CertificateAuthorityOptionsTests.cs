using Meshgate.Mesh.CertificateAuthority;

namespace Meshgate.Mesh.Tests.CertificateAuthority;

public sealed class CertificateAuthorityOptionsTests
{
    private static readonly string Hash = BootstrapToken.Hash("x");

    public static TheoryData<string, Action<CertificateAuthorityOptions>, string> BadOptions() => new()
    {
        { "trust domain", o => o.TrustDomain = "Mesh Local", "trust domain 'Mesh Local' is not valid" },
        { "no root", o => o.StateDirectory = null, "no root: set a state directory" },
        { "half intermediate", o => o.IntermediateCertificateFile = "a.crt", "an intermediate needs both its certificate file and its key file" },
        { "bundle alone", o => o.TrustBundleFile = "root.crt", "a trust bundle file is only used with an intermediate certificate" },
        { "leaf too short", o => o.LeafLifetime = TimeSpan.FromMinutes(1), "leaf lifetime 00:01:00 is out of range: it must be between 00:05:00 and 30.00:00:00" },
        { "leaf too long", o => { o.LeafLifetime = TimeSpan.FromDays(31); o.RotationOverlap = TimeSpan.FromDays(40); }, "leaf lifetime 31.00:00:00 is out of range" },
        { "overlap", o => o.RotationOverlap = TimeSpan.FromHours(1), "rotation overlap 01:00:00 is shorter than the leaf lifetime 1.00:00:00" },
        { "root", o => o.RootLifetime = TimeSpan.FromDays(1), "root lifetime 1.00:00:00 is too short" },
        { "skew", o => o.ClockSkew = TimeSpan.FromHours(2), "clock skew 02:00:00 must be between 0 and 1 hour" },
        { "token hash", o => o.Tokens.Add(new BootstrapToken("shop", "orders", "abc")), "tokens[0]: hash must be 64 hex digits" },
        { "token service", o => o.Tokens.Add(new BootstrapToken("shop", "../orders", Hash)), "tokens[0]: service '../orders' is not valid" },
        { "token namespace", o => o.Tokens.Add(new BootstrapToken("", "orders", Hash)), "tokens[0]: namespace '' is not valid" },
        { "token dns", o => o.Tokens.Add(new BootstrapToken("shop", "orders", Hash) { DnsNames = ["bad name"] }), "tokens[0]: DNS name 'bad name' is not valid" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Validate_BadSetting_NamesTheProblem(string name, Action<CertificateAuthorityOptions> change, string message)
    {
        var options = new CertificateAuthorityOptions { StateDirectory = "/var/lib/meshgate/ca" };
        change(options);
        var error = Assert.Single(options.Validate());
        Assert.True(error.StartsWith(message, StringComparison.Ordinal), $"{name}: {error}");
    }

    [Fact]
    public void Validate_Defaults_AreUsable()
    {
        var options = new CertificateAuthorityOptions { StateDirectory = "/var/lib/meshgate/ca" };
        options.Tokens.Add(new BootstrapToken("shop", "orders", Hash));
        Assert.Empty(options.Validate());
        Assert.Equal(TimeSpan.FromHours(24), options.LeafLifetime);
    }

    [Fact]
    public void AddMeshCertificateAuthority_BadOptions_ThrowsWithEveryProblem()
    {
        var options = new CertificateAuthorityOptions { TrustDomain = "Bad Domain", LeafLifetime = TimeSpan.FromDays(60) };
        var error = Assert.Throws<ArgumentException>(() => new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddMeshCertificateAuthority(options));
        Assert.Contains("trust domain 'Bad Domain' is not valid", error.Message);
        Assert.Contains("no root: set a state directory", error.Message);
        Assert.Contains("leaf lifetime 60.00:00:00 is out of range", error.Message);
    }

    [Fact]
    public void TokensFile_Parses_CommentsBlankLinesAndDnsNames()
    {
        var tokens = BootstrapTokensFile.Parse(["# ns service hash [dns...]", "", $"shop orders {Hash.ToUpperInvariant()}", $"  shop payments {Hash} payments.shop.svc payments"], "tokens.txt");
        Assert.Equal(2, tokens.Count);
        Assert.Equal(("shop", "orders", Hash), (tokens[0].Namespace, tokens[0].Service, tokens[0].Sha256Hex));
        Assert.Equal(["payments.shop.svc", "payments"], tokens[1].DnsNames);
    }

    [Theory]
    [InlineData("shop orders", "tokens.txt:2: expected '<namespace> <service> <sha256-hex> [dns-name ...]'")]
    [InlineData("shop orders nothex", "tokens.txt:2: hash must be 64 hex digits")]
    public void TokensFile_BadLine_NamesFileAndLine(string line, string message)
    {
        var error = Assert.Throws<FormatException>(() => BootstrapTokensFile.Parse(["# header", line], "tokens.txt"));
        Assert.StartsWith(message, error.Message);
    }
}
