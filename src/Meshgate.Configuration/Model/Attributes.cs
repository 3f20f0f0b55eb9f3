namespace Meshgate.Configuration.Model;

/// <summary>The key must be present. Checked by the reader, listed as required in the JSON Schema.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredAttribute : Attribute;

/// <summary>The value is a secret: redacted wherever the config is shown.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SecretAttribute : Attribute;

/// <summary>A plain scalar may stand for the whole object; it sets the named property.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ScalarShorthandAttribute(string property) : Attribute
{
    public string Property { get; } = property;
}

/// <summary>The YAML key, where camelCase of the property name cannot be it (e.g. "equals", which records reserve).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ConfigKeyAttribute(string key) : Attribute
{
    public string Key { get; } = key;
}

/// <summary>On a list property: a single scalar may stand for a one-item list (<c>key: consumer</c> = <c>key: [consumer]</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ScalarOrListAttribute : Attribute;
