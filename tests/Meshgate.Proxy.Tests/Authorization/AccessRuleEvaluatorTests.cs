using System.Collections.Frozen;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.Authorization;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.Authorization;

public sealed class AccessRuleEvaluatorTests
{
    private static HttpContext Context(params Claim[] claims)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/orders/7";
        context.User = claims.Length == 0 ? new ClaimsPrincipal(new ClaimsIdentity()) : new ClaimsPrincipal(new ClaimsIdentity(claims, "test"));
        return context;
    }

    [Fact]
    public void Authenticated_TrueRequiresAnAuthenticatedPrincipal()
    {
        var rule = new AccessRule { Authenticated = true };
        Assert.False(AccessRuleEvaluator.Matches(rule, Context()));
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim(MeshgateClaims.Subject, "u1"))));
        Assert.True(AccessRuleEvaluator.Matches(rule with { Authenticated = false }, Context()));
    }

    [Fact]
    public void Scopes_AllRequired_SpaceSeparatedOrOnePerClaim()
    {
        var rule = new AccessRule { Scopes = ["orders.read", "orders.write"] };
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim("scope", "orders.read orders.write profile"))));
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim("scope", "orders.read"), new Claim("scp", "orders.write"))));
        Assert.False(AccessRuleEvaluator.Matches(rule, Context(new Claim("scope", "orders.read"))));
    }

    [Fact]
    public void Roles_AnyOf()
    {
        var rule = new AccessRule { Roles = new[] { "admin", "ops" }.ToFrozenSet() };
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim(MeshgateClaims.Role, "ops"))));
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim(ClaimTypes.Role, "admin"))));
        Assert.False(AccessRuleEvaluator.Matches(rule, Context(new Claim(MeshgateClaims.Role, "viewer"))));
    }

    [Fact]
    public void Consumers_OneOf()
    {
        var rule = new AccessRule { Consumers = new[] { "partner-a" }.ToFrozenSet() };
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim(MeshgateClaims.Consumer, "partner-a"))));
        Assert.False(AccessRuleEvaluator.Matches(rule, Context(new Claim(MeshgateClaims.Consumer, "partner-b"))));
        Assert.False(AccessRuleEvaluator.Matches(rule, Context()));
    }

    [Theory]
    [InlineData("sales", true)]
    [InlineData("Sales", false)] // ordinal
    [InlineData("ops", true)]
    [InlineData("legal", false)]
    public void Claims_AnyOf(string department, bool expected)
    {
        var rule = new AccessRule { Claims = [new ClaimCondition("department", null, null, new[] { "sales", "ops" }.ToFrozenSet())] };
        Assert.Equal(expected, AccessRuleEvaluator.Matches(rule, Context(new Claim("department", department))));
    }

    [Fact]
    public void Claims_EqualsAndContains_AllConditionsMustHold()
    {
        var rule = new AccessRule { Claims = [new ClaimCondition("tenant", "blue", null, null), new ClaimCondition("email", null, "@example.com", null)] };
        Assert.True(AccessRuleEvaluator.Matches(rule, Context(new Claim("tenant", "blue"), new Claim("email", "a@example.com"))));
        Assert.False(AccessRuleEvaluator.Matches(rule, Context(new Claim("tenant", "blue"), new Claim("email", "a@example.org"))));
        Assert.False(AccessRuleEvaluator.Matches(rule, Context(new Claim("tenant", "green"), new Claim("email", "a@example.com"))));
    }

    [Fact]
    public void SanUris_ReadFromExtension()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=workload", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://example.org/ns/default/sa/orders"));
        san.AddDnsName("orders.internal");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var extension = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["spiffe://example.org/ns/default/sa/orders"], AccessRuleEvaluator.SanUris(extension));

        var context = Context();
        context.Connection.ClientCertificate = certificate;
        var rule = new AccessRule { ClientCertificate = new ClientCertificateMatch(FrozenSet<string>.Empty, FrozenSet<string>.Empty, new[] { "spiffe://example.org/ns/default/sa/orders" }.ToFrozenSet()) };
        Assert.True(AccessRuleEvaluator.Matches(rule, context));
    }
}
