/*
 * A stand-in for Windows' bcryptprimitives.dll, for the tests only: Rust's
 * standard library on Windows takes its random numbers from ProcessPrng in
 * that DLL, which every Windows since 10 has and Wine 8.0 (Debian 12) lacks,
 * so without it the receiver stops at load under Wine. This one answers from
 * RtlGenRandom (SystemFunction036 in advapi32), which Wine has. The test kit
 * builds it with mingw-w64 into the tests' own Wine prefix (the "Windows
 * machine"), never beside the program users get.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
