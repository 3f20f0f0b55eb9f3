namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>Process settings of the mesh's certificate authority (the control-plane host fills them from its flags).</summary>
public sealed class CertificateAuthorityOptions
{
    /// <summary>The SPIFFE trust domain, e.g. <c>mesh.local</c>: leaves get <c>spiffe://&lt;TrustDomain&gt;/ns/&lt;namespace&gt;/sa/&lt;service&gt;</c>.</summary>
    public string TrustDomain { get; set; } = "mesh.local";

    /// <summary>
    /// Where the self-made roots live (<c>roots/&lt;created&gt;.crt</c> and <c>.key</c>, key mode 0600). The first root
    /// is made here on first start. Required unless <see cref="IntermediateCertificateFile"/> is set.
    /// </summary>
    public string? StateDirectory { get; set; }

    /// <summary>
    /// PEM file with an intermediate CA certificate that the user's own CA signed, followed by any further
    /// intermediates up to (and optionally including) the root. With it the CA signs with this intermediate
    /// and makes no root of its own.
    /// </summary>
    public string? IntermediateCertificateFile { get; set; }

    /// <summary>PEM file with the intermediate's private key (PKCS#8, EC or RSA). Required with <see cref="IntermediateCertificateFile"/>.</summary>
    public string? IntermediateKeyFile { get; set; }

    /// <summary>
    /// PEM file with the user's root certificate(s), which form the trust bundle. Optional when
    /// <see cref="IntermediateCertificateFile"/> already ends with the (self-signed) root.
    /// </summary>
    public string? TrustBundleFile { get; set; }

    /// <summary>Lifetime of a signed leaf. Default 24 hours; between 5 minutes and 30 days.</summary>
    public TimeSpan LeafLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Lifetime of a self-made root. Default 10 years.</summary>
    public TimeSpan RootLifetime { get; set; } = TimeSpan.FromDays(3650);

    /// <summary>
    /// How long a replaced root stays in the trust bundle after a new one is made. Default 48 hours; at least
    /// <see cref="LeafLifetime"/>, so every leaf the old root signed expires before the old root stops being trusted.
    /// </summary>
    public TimeSpan RotationOverlap { get; set; } = TimeSpan.FromHours(48);

    /// <summary>How far in the past a certificate's NotBefore is set, so peers with a slow clock accept it. Default 5 minutes.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The bootstrap tokens that may get a certificate, each bound to one service in one namespace.</summary>
    public IList<BootstrapToken> Tokens { get; } = [];

    internal static readonly TimeSpan MinLeafLifetime = TimeSpan.FromMinutes(5);
    internal static readonly TimeSpan MaxLeafLifetime = TimeSpan.FromDays(30);

    /// <summary>Every problem with these settings, as one message each; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(TrustDomain) || !IsDnsLabelList(TrustDomain))
            errors.Add($"trust domain '{TrustDomain}' is not valid: use lower-case letters, digits, '-' and '.', e.g. mesh.local");
        if (IntermediateCertificateFile is null && IntermediateKeyFile is null && string.IsNullOrWhiteSpace(StateDirectory))
            errors.Add("no root: set a state directory (a root is made there on first start) or an intermediate certificate and key");
        if ((IntermediateCertificateFile is null) != (IntermediateKeyFile is null))
            errors.Add("an intermediate needs both its certificate file and its key file");
        if (TrustBundleFile is not null && IntermediateCertificateFile is null)
            errors.Add("a trust bundle file is only used with an intermediate certificate");
        if (LeafLifetime < MinLeafLifetime || LeafLifetime > MaxLeafLifetime)
            errors.Add($"leaf lifetime {LeafLifetime} is out of range: it must be between {MinLeafLifetime} and {MaxLeafLifetime}");
        if (RootLifetime < TimeSpan.FromDays(30))
            errors.Add($"root lifetime {RootLifetime} is too short: at least 30 days");
        if (RotationOverlap < LeafLifetime)
            errors.Add($"rotation overlap {RotationOverlap} is shorter than the leaf lifetime {LeafLifetime}: leaves signed by the old root would stop validating before they expire");
        if (ClockSkew < TimeSpan.Zero || ClockSkew > TimeSpan.FromHours(1))
            errors.Add($"clock skew {ClockSkew} must be between 0 and 1 hour");
        for (var i = 0; i < Tokens.Count; i++)
        {
            foreach (var problem in Tokens[i].Validate()) errors.Add($"tokens[{i}]: {problem}");
        }
        return errors;
    }

    internal static bool IsDnsLabelList(string value) =>
        value.Length <= 253 && value.Split('.').All(label =>
            label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' &&
            label.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'));
}
