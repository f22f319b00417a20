"""The people and places of nine training novels of ../shared/corpus/koconovel, checked by hand (read in the
text, each named three times or more), to measure engine.cast against: what it finds that is not here is a
false name, what is here that it misses is a name it lost.

Titles and roles are not names (장인님, 송 서방, 노마님, 급사, 왕자); a nickname is (까맹이, a cat's; 바위, a man's);
places are (동경, 사직동, 진고개). A name that many of the novels share (서울, 조선) is here when the novel names
it, though the finder may leave it to the common words.
"""

GOLD: dict[str, set[str]] = {
    "23_Spring_Spring": {"점순", "뭉태"},
    "29_The_Calf": {"칠성", "춘심", "송동", "까맹"},
    "41_Jeong-hee": {"정희", "성구", "최성구", "영식", "남영식", "파틸리샨", "동경"},
    "5_Kyung-hee": {"경희", "시월", "수남", "이철원", "일본", "조선"},
    "2_A_Sweetheart": {"윤수", "김윤수", "최충국", "사직동", "서울"},
    "45_Break_at_Dawn": {"형철", "혜경", "은숙", "조선", "서울", "송천"},
    "8_Dark_Moon": {"성호", "문환", "진고개"},
    "11_The_Daedong_River_Whispers": {"애애", "연연", "대동강", "평양"},
    "24_The_Father_and_the_Son": {"바위", "홍철"},
}

# Names the finder may keep though they are named only once or twice (not a false name).
ALSO: dict[str, set[str]] = {
    "41_Jeong-hee": {"긴자", "이집트"},
    "45_Break_at_Dawn": {"남대문", "구미포"},
}
