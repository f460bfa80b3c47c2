// TorchSharp 0.107.0's libLibTorchSharp.so asks for GLIBCXX_3.4.32, which Debian 12's libstdc++
// (up to 3.4.30) lacks. The only symbol behind that version is the marker
// std::ios_base_library_init(), so marking the requirement weak (VER_FLG_WEAK on its Vernaux entry
// in .gnu.version_r) lets the dynamic loader accept the library.
//
// One file, two users: MSBuild compiles it as an inline task (RoslynCodeTaskFactory, against
// netstandard2.0, see LibTorchSharp.targets) that patches at build time; the library links it with
// APT_LIBRARY defined to read the same flag for `aptnb doctor` and its load-failure message.
using System;
using System.IO;
using System.Text;
#if !APT_LIBRARY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenElfVersionNeed : Task
{
    /// <summary>ELF shared objects to patch in place.</summary>
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version requirement to weaken, e.g. GLIBCXX_3.4.32.</summary>
    [Required] public string Version { get; set; } = "";

    /// <summary>The system libstdc++ consulted to decide whether the patch is needed at all.</summary>
    public string SystemLibrary { get; set; } = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";

    public override bool Execute()
    {
        if (!File.Exists(SystemLibrary) || ElfVersionNeed.Defines(SystemLibrary, Version)) return true;
        foreach (var item in Files)
        {
            try
            {
                if (ElfVersionNeed.Weaken(item.ItemSpec, Version))
                    Log.LogMessage(MessageImportance.High, $"LibTorchSharp: marked {Version} weak in {item.ItemSpec} (system libstdc++ lacks it)");
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError($"LibTorchSharp: could not patch {item.ItemSpec}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>Reads and sets the flags of an ELF64 file's version requirements (.gnu.version_r).</summary>
public static class ElfVersionNeed
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    /// <summary>Whether a shared library defines a symbol version (its name stands NUL-terminated in the string table).</summary>
    public static bool Defines(string library, string version)
    {
        string text = Encoding.ASCII.GetString(File.ReadAllBytes(library));
        return text.IndexOf("\0" + version + "\0", StringComparison.Ordinal) >= 0;
    }

    /// <summary>Whether the requirement of <paramref name="version"/> is weak, or absent (null when absent).</summary>
    public static bool? IsWeak(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        int flags = FlagsOffset(elf, version);
        return flags < 0 ? (bool?)null : (BitConverter.ToUInt16(elf, flags) & VerFlagWeak) != 0;
    }

    /// <summary>Sets VER_FLG_WEAK on the requirement; false when already weak or absent. A two-byte write in place.</summary>
    public static bool Weaken(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        int offset = FlagsOffset(elf, version);
        if (offset < 0) return false;
        ushort flags = BitConverter.ToUInt16(elf, offset);
        if ((flags & VerFlagWeak) != 0) return false;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = offset;
            stream.Write(BitConverter.GetBytes((ushort)(flags | VerFlagWeak)), 0, 2);
        }
        return true;
    }

    /// <summary>File offset of vna_flags in the Vernaux entry naming <paramref name="version"/>, or -1.</summary>
    static int FlagsOffset(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian 64-bit ELF file");
        int sections = checked((int)BitConverter.ToUInt64(elf, 0x28));
        int size = BitConverter.ToUInt16(elf, 0x3a), count = BitConverter.ToUInt16(elf, 0x3c);
        for (int s = 0; s < count; s++)
        {
            int header = sections + s * size;
            if (BitConverter.ToUInt32(elf, header + 4) != ShtGnuVerneed) continue;
            int entry = checked((int)BitConverter.ToUInt64(elf, header + 0x18));
            int link = (int)BitConverter.ToUInt32(elf, header + 0x28);
            int strings = checked((int)BitConverter.ToUInt64(elf, sections + link * size + 0x18));
            while (true)
            {
                int aux = entry + (int)BitConverter.ToUInt32(elf, entry + 8);
                for (int a = 0; a < BitConverter.ToUInt16(elf, entry + 2); a++)
                {
                    int name = strings + (int)BitConverter.ToUInt32(elf, aux + 8);
                    if (Encoding.ASCII.GetString(elf, name, Array.IndexOf(elf, (byte)0, name) - name) == version) return aux + 4;
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, entry + 12);
                if (next == 0) return -1;
                entry += (int)next;
            }
        }
        return -1;
    }
}
