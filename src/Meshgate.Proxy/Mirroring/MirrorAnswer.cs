namespace Meshgate.Proxy.Mirroring;

/// <summary>What compare looks at in one answer: status, the chosen headers' values and a hash of the body.</summary>
internal sealed record MirrorAnswer(int Status, string?[] Headers, byte[] BodyHash);
